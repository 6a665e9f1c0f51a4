"""The instrument: Handlungsfelder, items, scales and versions, loaded from schemas/codebook/ and checked."""

from __future__ import annotations

from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from pipeline.errors import ConfigError
from pipeline.yaml_io import read_yaml

ItemType = Literal["scale", "yesno", "multi", "text"]
# yes/no items share this scale, so their codes are validated and labelled like any other scale's.
YESNO_SCALE = "janein"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Model):
    code: str
    label: str
    value: float | None = None


class Scale(_Model):
    label: str
    options: tuple[Option, ...]


class Theme(_Model):
    code: str
    label: str


class Field(_Model):
    code: str
    number: int
    label: str
    themes: tuple[Theme, ...] = ()


class OrgType(_Model):
    code: str
    label: str


class Version(_Model):
    version: str
    released: date
    note: str = ""


class Instrument(_Model):
    code: str
    title: str
    description: str = ""


class Item(_Model):
    code: str
    type: ItemType
    label: str
    field: str | None = None
    theme: str | None = None
    scale: str | None = None
    options: tuple[Option, ...] = ()
    max_length: int | None = None
    added_in: str | None = None
    retired_in: str | None = None
    special_category: bool = False

    @property
    def scale_name(self) -> str | None:
        """The scale the item is answered on: its own, "janein" for yes/no, none for options and free text."""
        return YESNO_SCALE if self.type == "yesno" else self.scale


class Codebook(_Model):
    instrument: Instrument
    versions: tuple[Version, ...]
    scales: dict[str, Scale]
    fields: tuple[Field, ...]
    org_types: tuple[OrgType, ...]
    items: tuple[Item, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Codebook:
        problems: list[str] = []
        seen: set[str] = set()
        fields = {f.code: f for f in self.fields}
        versions = [v.version for v in self.versions]
        for item in self.items:
            where = f"item {item.code}"
            if item.code in seen:
                problems.append(f"{where}: duplicate code")
            seen.add(item.code)
            if item.field is None and not item.special_category:
                problems.append(f"{where}: has no field (only special-category items may)")
            if item.field is not None and item.field not in fields:
                problems.append(f"{where}: unknown field {item.field!r}")
            themes = {t.code for t in fields[item.field].themes} if item.field in fields else set()
            if (item.theme is not None or themes) and item.theme not in themes:
                problems.append(f"{where}: theme {item.theme!r} is not one of {sorted(themes)}")
            if item.type == "scale" and item.scale not in self.scales:
                problems.append(f"{where}: unknown scale {item.scale!r}")
            if item.type == "multi" and not item.options:
                problems.append(f"{where}: multiple choice without options")
            for version in (item.added_in, item.retired_in):
                if version is not None and version not in versions:
                    problems.append(f"{where}: unknown instrument version {version!r}")
        if YESNO_SCALE not in self.scales:
            problems.append(f"scale {YESNO_SCALE!r} is missing (yes/no items need it)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def latest_version(self) -> str:
        return self.versions[-1].version

    @cached_property
    def item_by_code(self) -> dict[str, Item]:
        return {item.code: item for item in self.items}

    def options_of(self, item: Item) -> tuple[Option, ...]:
        """Answer options of an item; free text has none."""
        if item.type == "scale":
            return self.scales[item.scale].options  # type: ignore[index]
        if item.type == "yesno":
            return self.scales[YESNO_SCALE].options
        return item.options

    def items_in(self, version: str) -> list[Item]:
        """Items asked in an instrument version (added_in ≤ version < retired_in)."""
        order = {v.version: i for i, v in enumerate(self.versions)}
        at = order[version]
        return [
            item
            for item in self.items
            if (item.added_in is None or order[item.added_in] <= at)
            and (item.retired_in is None or at < order[item.retired_in])
        ]

    def items_frame(self) -> pd.DataFrame:
        """One row per item and instrument version it belongs to, for the reference tables in DuckDB."""
        fields = {f.code: f for f in self.fields}
        themes = {t.code: t.label for f in self.fields for t in f.themes}
        rows = [
            {
                "instrument_version": version.version,
                "item_code": item.code,
                "item_type": item.type,
                "item_label": item.label,
                "field_code": item.field,
                "field_number": fields[item.field].number if item.field else None,
                "field_label": fields[item.field].label if item.field else None,
                "theme_code": item.theme,
                "theme_label": themes.get(item.theme) if item.theme else None,
                "special_category": item.special_category,
            }
            for version in self.versions
            for item in self.items_in(version.version)
        ]
        return pd.DataFrame(rows)

    def options_frame(self) -> pd.DataFrame:
        """One row per item and answer option: code, German label, numeric value where the scale has one."""
        rows = [
            {
                "item_code": item.code,
                "answer_code": o.code,
                "answer_label": o.label,
                "value": o.value,
                "ordinal": i,
            }
            for item in self.items
            for i, o in enumerate(self.options_of(item))
        ]
        return pd.DataFrame(rows)


def load_codebook(path: Path) -> Codebook:
    """Read and check the codebook; an error names the file and every inconsistency found."""
    try:
        data = read_yaml(path)
        return Codebook.model_validate(data)
    except FileNotFoundError as exc:
        raise ConfigError(f"codebook {path} not found") from exc
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"codebook {path} is invalid: {exc}") from exc
