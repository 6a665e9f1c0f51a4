"""The quarantine, for the operator and the partners: what was rejected and why, and loading it again once fixed."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pandas as pd

from pipeline import db
from pipeline.codebook import load_codebook
from pipeline.load import reload_partner
from pipeline.registry import Partner, load_registry
from pipeline.settings import Settings

# Reasons as partners read them (contract.py writes them in English for the operator and the logs).
_GERMAN = [
    (r"^answer code not among (.*)$", r"Antwortcode nicht zulässig (zulässig: \1)"),
    (r"^option not among (.*)$", r"Option nicht zulässig (zulässig: \1)"),
    (r"^free text longer than (\d+) characters$", r"Freitext länger als \1 Zeichen"),
    (r"^submission time missing or not a date$", "Abgabezeitpunkt fehlt oder ist kein Datum"),
    (r"^submitted outside every survey wave's window$", "Abgabe außerhalb jedes Erhebungszeitraums"),
    (r"^submitted in the future$", "Abgabezeitpunkt liegt in der Zukunft"),
    (r"^the response has no id$", "Die Antwort hat keine ID"),
    (r"^the response id occurs twice in one batch$", "Die Antwort-ID kommt doppelt vor"),
]
EXPORT_COLUMNS = {
    "source_id": "Antwort-ID",
    "partner_field": "Frage (Ihr Code)",
    "field": "Item (ChancenCheckLU)",
    "value": "Wert",
    "grund": "Grund",
    "quarantined_at": "Zurückgewiesen am",
}


def open_rejections(settings: Settings, partner_id: str | None = None) -> pd.DataFrame:
    con = db.connect(settings.db_path, settings.sql_dir)
    try:
        return con.execute(db.sql(settings.sql_dir, "ops/quarantine_list"), {"partner_id": partner_id}).df()
    finally:
        con.close()


def german_reason(reason: str) -> str:
    for pattern, german in _GERMAN:
        if re.match(pattern, reason):
            return re.sub(pattern, german, reason)
    return reason


def export_for_partner(settings: Settings, partner_id: str, path: Path) -> int:
    """Write a partner's open rejections as CSV for German Excel (UTF-8 with BOM, ';'), with the partner's own
    question codes and reasons in German, so it can be sent back as it is. Returns the number of rows."""
    registry = load_registry(settings.partners_file, load_codebook(settings.codebook_file), check_secrets=False)
    partner = registry.partner(partner_id)
    rows = open_rejections(settings, partner.id)
    rows = rows.assign(
        partner_field=rows["field"].map(_partner_codes(partner)).fillna(""),
        grund=rows["reason"].map(german_reason),
        quarantined_at=rows["quarantined_at"].dt.tz_convert(settings.timezone).dt.strftime("%d.%m.%Y %H:%M"),
    )
    out = rows[list(EXPORT_COLUMNS)].rename(columns=EXPORT_COLUMNS)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, sep=";", encoding="utf-8-sig", index=False)
    return len(out)


def _partner_codes(partner: Partner) -> dict[str, str]:
    """Item code → the partner's question code(s) that map onto it."""
    codes: dict[str, list[str]] = {}
    for code, target in partner.mapping.items():
        codes.setdefault(target.partition("=")[0], []).append(code)
    return {item: ", ".join(found) for item, found in codes.items()}


def replay(settings: Settings, partner_ids: list[str] | None = None) -> dict[str, tuple[int, int, int]]:
    """Check the quarantined versions again with today's codebook and registry: those that pass load and leave
    quarantine, the others stay with fresh reasons. Returns per partner (still quarantined, inserted, updated)."""
    codebook = load_codebook(settings.codebook_file)
    registry = load_registry(settings.partners_file, codebook, check_secrets=False)
    run_id = f"replay-{uuid.uuid4().hex[:12]}"
    con = db.connect(settings.db_path, settings.sql_dir)
    try:
        return {
            pid: reload_partner(con, settings, codebook, registry, pid, True, run_id)
            for pid in partner_ids or [p.id for p in registry.partners]
        }
    finally:
        con.close()
