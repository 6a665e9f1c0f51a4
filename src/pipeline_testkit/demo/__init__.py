"""Embedded demo partners: their registry, deterministic responses, and the emulators that serve them.

`pipeline demo`, the tests and the benchmarks all stand the same world up: one emulator per survey tool on
127.0.0.1 serving generated responses, a fresh random secret per partner (handed over through the partner's
secret variable, as in production), and a copy of the demo registry pointing at the emulators.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from pipeline.contract.codebook import Codebook, load_codebook
from pipeline.registry import Partner, Registry, load_registry
from pipeline.settings import Settings
from pipeline_testkit.emulators import files, kobo, limesurvey, odk, sosci
from pipeline_testkit.emulators.server import DemoService
from pipeline_testkit.emulators.synthetic import Plan, Response, responses

DEMO_REGISTRY = Path(__file__).with_name("partners.yaml")
SEED = 20_261_125
# Responses are generated as of this moment, so the demo is the same on every day it is run.
GENERATED_AT = datetime(2026, 7, 1)
# partner → wave → (responses, of which with an invalid answer). The refugee initiative is deliberately
# small: its groups stay below the disclosure threshold.
PLANS: dict[str, dict[str, tuple[int, int]]] = {
    "caritas-lu": {"2025": (40, 1), "2026": (45, 1)},
    "stadt-lu": {"2025": (80, 2), "2026": (95, 1)},
    "jobcenter-lu": {"2025": (30, 0), "2026": (35, 1)},
    "hwg-lu": {"2025": (25, 1), "2026": (28, 0)},
    "fluechtlingshilfe-lu": {"2025": (3, 0), "2026": (4, 0)},
    "stadt-bildung-lu": {"2025": (30, 1), "2026": (35, 1)},
    "staatsphilharmonie-lu": {"2025": (30, 1), "2026": (35, 1)},
    "awo-lu": {"2025": (30, 1), "2026": (35, 1)},
    "hwg-lu-fb4": {"2025": (20, 1), "2026": (24, 1)},
}
# Connector kind → the emulator module's serve_demo.
ServeDemo = Callable[[Codebook, list[tuple[Partner, list[Response]]], Path], DemoService]
SERVICES: dict[str, ServeDemo] = {
    "kobo": kobo.serve_demo,
    "limesurvey": limesurvey.serve_demo,
    "files": files.serve_demo,
    "odk": odk.serve_demo,
    "sosci": sosci.serve_demo,
}


@dataclass
class Demo:
    """A running demo world: the emulators, what they serve, and the settings and secrets pointing the pipeline
    at them."""

    registry: Registry
    codebook: Codebook
    services: dict[str, DemoService]
    generated: dict[str, list[Response]]
    settings: Settings
    # the partners' tokens and the respondent key, which the pipeline reads from the environment only
    secrets: dict[str, str]

    @property
    def env(self) -> dict[str, str]:
        """The environment of a process started on the demo (a `pipeline` command, a served flow run)."""
        return {
            **self.secrets,
            "PIPELINE_PARTNERS_FILE": str(self.settings.partners_file),
            "PIPELINE_DATA_DIR": str(self.settings.data_dir),
        }

    @property
    def served(self) -> dict[str, list[Any]]:
        """Each partner's responses in its tool's own shape."""
        return {pid: rows for service in self.services.values() for pid, rows in service.served.items()}


def plans(registry: Registry, scale: float = 1.0) -> list[Plan]:
    """The demo's plans, with response ids unique per partner; scale multiplies the counts (benchmarks)."""
    out = []
    for partner in registry.partners:
        first_id = 1
        for wave in registry.waves:
            n, invalid = PLANS.get(partner.id, {}).get(wave.code, (0, 0))
            n = max(int(n * scale), 1 if n else 0)
            out.append(Plan(partner, wave, n, first_id, invalid))
            first_id += n
    return out


@contextmanager
def running(settings: Settings, scale: float = 1.0, source: Path = DEMO_REGISTRY) -> Iterator[Demo]:
    """Start the emulators with generated responses and write a registry pointing at them into data_dir."""
    codebook = load_codebook(settings.codebook_file)
    registry = load_registry(source, codebook, check_secrets=False)
    generated: dict[str, list[Response]] = {p.id: [] for p in registry.partners}
    for plan in plans(registry, scale):
        generated[plan.partner.id] += responses(codebook, plan, SEED, GENERATED_AT)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        services: dict[str, DemoService] = {}
        for kind in sorted({p.connector.kind for p in registry.partners}):
            partners = [(p, generated[p.id]) for p in registry.partners if p.connector.kind == kind]
            services[kind] = SERVICES[kind](codebook, partners, settings.data_dir / "emulated" / kind)
            stack.callback(services[kind].stop)
        partners_file = settings.data_dir / "partners.yaml"
        overrides = {pid: o for service in services.values() for pid, o in service.overrides.items()}
        _write_pointing_at(source, partners_file, overrides)
        secrets = {name: value for service in services.values() for name, value in service.env.items()}
        secrets[settings.respondent_key_env] = os.environ.get(settings.respondent_key_env) or _demo_key(
            settings.data_dir
        )
        pointed = settings.model_copy(update={"partners_file": partners_file})
        yield Demo(registry, codebook, services, generated, pointed, secrets)


def _write_pointing_at(source: Path, target: Path, overrides: dict[str, dict[str, Any]]) -> None:
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    for partner in data["partners"]:
        partner["connector"].update(overrides.get(partner["id"], {}))
    target.write_text(
        "# Written by `pipeline demo` from the embedded demo registry, pointing at the emulators.\n"
        + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )


def _demo_key(data_dir: Path) -> str:
    """The demo's respondent key: made once and kept beside the demo database, so keys stay stable across
    demo runs. Production takes the key from the environment only."""
    path = data_dir / "respondent.key"
    if not path.exists():
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()
