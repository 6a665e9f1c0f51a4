"""Publishing for the steering group: marts under disclosure control, written as Parquet and German CSV."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pipeline import db
from pipeline.publish.disclosure import HIDDEN, protect
from pipeline.settings import Settings


@dataclass(frozen=True)
class Publication:
    directory: Path
    files: list[Path]
    suppressed: dict[str, int]


def publish(settings: Settings) -> Publication:
    """Protect the marts and write them; each file is replaced atomically, so a reader sees old or new whole."""
    con = db.connect(settings.db_path, settings.sql_dir)
    try:
        marts = {name: con.execute(f"select * from marts.{name}").df() for name in _MARTS}
    finally:
        con.close()
    protected = protect(
        marts["item_results"], marts["item_distribution"], marts["field_results"], settings.disclosure_k
    )
    out = settings.publish_dir
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    suppressed: dict[str, int] = {}
    for name, frame in protected.tables().items():
        files += [_replace(out / f"{name}.parquet", lambda p, f=frame: f.to_parquet(p, index=False))]
        files += [_replace(out / f"{name}.csv", lambda p, f=frame: _german_csv(f, p))]
        suppressed[name] = int((frame["status"] == HIDDEN).sum())
    manifest = {
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "disclosure_k": settings.disclosure_k,
        "tables": {
            name: {"rows": len(f), "rows_with_hidden_cells": suppressed[name]} for name, f in protected.tables().items()
        },
    }
    files.append(
        _replace(out / "manifest.json", lambda p: p.write_text(json.dumps(manifest, indent=2), encoding="utf-8"))
    )
    return Publication(out, files, suppressed)


_MARTS = ("item_results", "item_distribution", "field_results")


def _german_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV as German Excel opens it without a wizard: UTF-8 with BOM, ';' separators, decimal commas."""
    frame.to_csv(path, sep=";", decimal=",", encoding="utf-8-sig", index=False, float_format="%.4f")


def _replace(path: Path, write: object) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)  # type: ignore[operator]
    os.replace(tmp, path)
    return path
