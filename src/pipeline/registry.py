"""The partner registry: who answers, over which connector, and how their question codes map onto items.

One YAML file (settings.partners_file) lists the survey waves and the partners. It is validated as a whole on
load; every problem is reported at once, each naming the partner and the field.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator

from pipeline.contract.codebook import Codebook
from pipeline.errors import ConfigError
from pipeline.extract import json_records
from pipeline.extract.files import FilesSettings
from pipeline.extract.kobo import KoboSettings
from pipeline.extract.limesurvey import LimeSurveySettings
from pipeline.extract.odk import OdkSettings
from pipeline.extract.sosci import SosciSettings
from pipeline.yaml_io import read_yaml

# Adding a connector: its settings model joins this union; nothing else here changes.
ConnectorSettings = Annotated[
    KoboSettings | LimeSurveySettings | FilesSettings | OdkSettings | SosciSettings, Field(discriminator="kind")
]


# Where a response's organisation type is: the registry key, the contract's column, the quarantine's field.
ORG_TYPE = "org_type"


class Target(NamedTuple):
    """What a partner column maps to: an item; for a column per option of a multiple choice also the option,
    ticked by a tick ("Y", "1", "x", ...) or, for an "other" text column (by_text), by any text."""

    item: str
    option: str | None
    by_text: bool


def parse_target(text: str) -> Target:
    """A mapping target as written in the registry: "ITEM", "ITEM=option" or "ITEM=option:text"."""
    item, _, option = text.partition("=")
    option, _, kind = option.partition(":")
    return Target(item, option or None, kind == "text")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Wave(_Model):
    code: str
    label: str
    instrument_version: str
    opens: date
    closes: date


class OrgTypeQuestion(_Model):
    """An organisation type each respondent gives (a city-wide survey asks it): the partner's question code
    and its answer codes → the codebook's org types. A code the recode does not list passes as it is, so a
    question answered in the codebook's codes (an ODK choice list named so) needs no recode."""

    field: str
    recode: dict[str, str] = {}

    @field_validator("field")
    @classmethod
    def _code_is_plain(cls, field: str) -> str:
        # the same rule as for mapped question codes: it becomes a JSON path key
        if not field.strip() or json_records.unreachable_keys([field]):
            raise ValueError(
                f"the question code must be non-empty and fit a JSON path key (no '\"', no trailing '\\'): {field!r}"
            )
        return field


def _org_type_kind(value: object) -> str:
    return "question" if isinstance(value, dict | OrgTypeQuestion) else "code"


# A code, or a question: the discriminator lets a wrong entry fail as the one it was meant to be, not as both.
OrgType = Annotated[
    Annotated[str, Tag("code")] | Annotated[OrgTypeQuestion, Tag("question")], Discriminator(_org_type_kind)
]


class Partner(_Model):
    """A partner. mapping: partner question code → item code, or "ITEM=option" for a column that says whether
    one option of a multiple-choice item was ticked (LimeSurvey's `Q[SQ001]`, ODK's split `q/a`, CSV), or
    "ITEM=option:text" for a text column whose text ticks the option (LimeSurvey's `Q[other]`, ODK's
    `q_other`). org_type: the partner's organisation type, or the question that asks each respondent's."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    org_type: OrgType
    secret_env: str
    connector: ConnectorSettings
    mapping: dict[str, str]
    recode: dict[str, dict[str, str]] = {}
    identifier_fields: tuple[str, ...] = ()
    # partner question codes left unmapped on purpose: kept in raw, never reported as drift
    ignore: tuple[str, ...] = ()

    @field_validator("mapping")
    @classmethod
    def _codes_are_plain(cls, mapping: dict[str, str]) -> dict[str, str]:
        # Partner codes become JSON path keys (bound as values, never SQL): a quote would end the key early, a
        # trailing backslash escapes its closing quote; either failed every run with a BinderException.
        bad = [code for code in mapping if not code.strip()] + json_records.unreachable_keys(mapping)
        if bad:
            raise ValueError(
                f"partner question codes must be non-empty and fit a JSON path key (no '\"', no trailing '\\'): {bad}"
            )
        return mapping

    @property
    def asked_org_type(self) -> OrgTypeQuestion | None:
        """The question giving each response's organisation type; None where the partner has one fixed."""
        return self.org_type if isinstance(self.org_type, OrgTypeQuestion) else None

    def question_codes(self) -> dict[str, list[str]]:
        """Item code, or ORG_TYPE for the organisation type asked, → the partner's question codes answering it."""
        codes: dict[str, list[str]] = {}
        for code, target in self.mapping.items():
            codes.setdefault(parse_target(target).item, []).append(code)
        if self.asked_org_type:
            codes[ORG_TYPE] = [self.asked_org_type.field]
        return codes

    def secret(self) -> str:
        """The partner's credential, read from the environment at the moment it is needed."""
        value = os.environ.get(self.secret_env)
        if not value:
            raise ConfigError(f"partner {self.id}: secret_env: environment variable {self.secret_env} is not set")
        return value


class Registry(_Model):
    waves: tuple[Wave, ...]
    partners: tuple[Partner, ...]

    def partner(self, partner_id: str) -> Partner:
        for partner in self.partners:
            if partner.id == partner_id:
                return partner
        known = ", ".join(p.id for p in self.partners)
        raise ConfigError(f"unknown partner {partner_id!r} (known: {known})")

    def wave_windows(self) -> list[tuple[str, str, datetime, datetime]]:
        """(wave, instrument version, opens, closes): local dates, the closing day included whole."""
        return [
            (
                w.code,
                w.instrument_version,
                datetime.combine(w.opens, datetime.min.time()),
                datetime.combine(w.closes, datetime.max.time()),
            )
            for w in self.waves
        ]


def _problems(registry: Registry, codebook: Codebook, check_secrets: bool) -> list[str]:
    problems: list[str] = []
    versions = {v.version for v in codebook.versions}
    for wave in registry.waves:
        if wave.instrument_version not in versions:
            problems.append(f"wave {wave.code}: instrument_version {wave.instrument_version!r} is not in the codebook")
        if wave.closes < wave.opens:
            problems.append(f"wave {wave.code}: closes before it opens")
    org_types = {o.code for o in codebook.org_types}
    seen: set[str] = set()
    for p in registry.partners:
        if p.id in seen:
            problems.append(f"partner {p.id}: id: duplicate partner id")
        seen.add(p.id)
        problems.extend(_org_type_problems(p, org_types))
        for code, text in p.mapping.items():
            mapped = parse_target(text)
            item = codebook.item_by_code.get(mapped.item)
            if item is None:
                problems.append(f"partner {p.id}: mapping: {code!r} maps to unknown item {mapped.item!r}")
            elif "=" in text and (
                item.type != "multi"
                or mapped.option not in {o.code for o in item.options}
                or text.partition(":")[2] not in ("", "text")
            ):
                problems.append(
                    f"partner {p.id}: mapping: {code!r} maps to {text!r}, not an option of a multiple choice "
                    "(ITEM=option, or ITEM=option:text for an other-text column)"
                )
        problems.extend(
            f"partner {p.id}: ignore: {code!r} is mapped; it cannot be ignored too"
            for code in p.ignore
            if code in p.mapping
        )
        for target, table in p.recode.items():
            known = _recode_target_codes(codebook, target)
            if known is None:
                problems.append(f"partner {p.id}: recode: {target!r} is neither a scale nor an item")
                continue
            for source, code in table.items():
                if code not in known:
                    problems.append(f"partner {p.id}: recode: {target}.{source} → {code!r} is not an answer code")
        if check_secrets and not os.environ.get(p.secret_env):
            problems.append(f"partner {p.id}: secret_env: environment variable {p.secret_env} is not set")
    return problems


def _org_type_problems(partner: Partner, org_types: set[str]) -> list[str]:
    asked = partner.asked_org_type
    if asked is None:
        if partner.org_type in org_types:
            return []
        return [f"partner {partner.id}: org_type: {partner.org_type!r} is not one of {sorted(org_types)}"]
    problems = [
        f"partner {partner.id}: org_type.recode: {asked.field}.{source} → {code!r} is not one of {sorted(org_types)}"
        for source, code in asked.recode.items()
        if code not in org_types
    ]
    if asked.field in partner.mapping or asked.field in partner.ignore:
        where = "mapped" if asked.field in partner.mapping else "ignored"
        problems.append(f"partner {partner.id}: org_type.field: {asked.field!r} is {where} too; it gives the org type")
    return problems


def _recode_target_codes(codebook: Codebook, target: str) -> set[str] | None:
    if target in codebook.scales:
        return {o.code for o in codebook.scales[target].options}
    if target in codebook.item_by_code:
        return {o.code for o in codebook.options_of(codebook.item_by_code[target])}
    return None


def load_registry(path: Path, codebook: Codebook, *, check_secrets: bool = True) -> Registry:
    """Read and validate the registry; raises ConfigError listing every problem, each naming its partner."""
    try:
        data = read_yaml(path) or {}
    except FileNotFoundError as exc:
        raise ConfigError(
            f"partner registry {path} not found (set PIPELINE_PARTNERS_FILE; `pipeline demo` shows a working one)"
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"partner registry {path} is not valid YAML: {exc}") from exc
    problems: list[str] = []
    partners = []
    for i, raw in enumerate(data.get("partners") or []):
        name = raw.get("id", f"#{i + 1}") if isinstance(raw, dict) else f"#{i + 1}"
        try:
            partners.append(Partner.model_validate(raw))
        except ValidationError as exc:
            problems.extend(
                f"partner {name}: {'.'.join(str(x) for x in err['loc']) or 'entry'}: {err['msg']}"
                for err in exc.errors()
            )
    try:
        waves = tuple(Wave.model_validate(w) for w in data.get("waves") or [])
    except ValidationError as exc:
        raise ConfigError(f"partner registry {path}: waves: {exc}") from exc
    registry = Registry(waves=waves, partners=tuple(partners))
    problems.extend(_problems(registry, codebook, check_secrets))
    if not registry.waves:
        problems.append("waves: at least one survey wave is needed")
    if problems:
        raise ConfigError(f"partner registry {path} is invalid:\n  " + "\n  ".join(problems))
    return registry
