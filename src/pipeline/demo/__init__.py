"""Embedded demo partners: their registry, deterministic responses, and the emulator that serves them.

`pipeline demo`, the tests and the benchmarks all stand the same world up: a KoboToolbox emulator on
127.0.0.1 with one asset per demo partner, a fresh random token per partner (handed over through the
partner's secret variable, as in production), and a copy of the demo registry pointing at the emulator.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from pipeline.codebook import Codebook, load_codebook
from pipeline.demo.generator import Plan, submissions
from pipeline.emulators.kobo import KoboEmulator
from pipeline.registry import Registry, load_registry
from pipeline.settings import Settings

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
}


@dataclass
class Demo:
    """A running demo world: the emulator, what it serves, and the environment that points the pipeline at it."""

    emulator: KoboEmulator
    url: str
    registry: Registry
    codebook: Codebook
    served: dict[str, list[dict[str, Any]]]
    env: dict[str, str]


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
    """Start the emulator with generated responses and write a registry pointing at it into data_dir."""
    codebook = load_codebook(settings.codebook_file)
    registry = load_registry(source, codebook, check_secrets=False)
    emulator = KoboEmulator()
    served: dict[str, list[dict[str, Any]]] = {p.id: [] for p in registry.partners}
    for plan in plans(registry, scale):
        served[plan.partner.id] += submissions(codebook, plan, SEED, GENERATED_AT)
    env: dict[str, str] = {}
    for partner in registry.partners:
        env[partner.secret_env] = secrets.token_urlsafe(24)
        emulator.add_asset(partner.connector.asset_uid, env[partner.secret_env], served[partner.id])
    server = emulator.serve()
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        partners_file = settings.data_dir / "partners.yaml"
        _write_pointing_at(source, partners_file, server.url)
        env.update({
            "PIPELINE_PARTNERS_FILE": str(partners_file),
            "PIPELINE_DATA_DIR": str(settings.data_dir),
            settings.respondent_key_env: os.environ.get(settings.respondent_key_env) or _demo_key(settings.data_dir),
        })  # fmt: skip
        yield Demo(emulator, server.url, registry, codebook, served, env)
    finally:
        server.stop()


def _write_pointing_at(source: Path, target: Path, url: str) -> None:
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    for partner in data["partners"]:
        partner["connector"]["base_url"] = url
    target.write_text(
        "# Written by `pipeline demo` from the embedded demo registry, pointing at the emulator.\n"
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
