"""File drops as partners send them: survey exports written into a drop folder, with no server in between.

A German partner's export (Excel's "CSV UTF-8", LimeSurvey or SoSci Survey "für Excel") looks like this:
`;` between cells, UTF-8 with a byte order mark, CRLF line ends, German column headers (the partner's codes),
a decimal comma, dates as dd.mm.yyyy HH:MM in local time, multiple choice as one column per option holding
"X" when ticked. The export also carries a contact e-mail, which the pipeline must drop. Older set-ups send
Windows-1252 without a BOM (emoji then arrive as "?") or `,` separators: write_csv takes both as arguments.
write_xlsx saves the same rows as a workbook, typed as Excel types them when the partner opens the CSV and
saves it as .xlsx. Every file is written under a `.part` name and renamed when complete, as a careful partner
or a sync client does.
"""

from __future__ import annotations

import csv
import os
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl

from pipeline.contract.codebook import Codebook
from pipeline.registry import Partner
from pipeline_testkit.emulators.server import DemoService
from pipeline_testkit.emulators.synthetic import Response, partner_answers

TICK = "X"
STARTED = "Gestartet am"
DURATION = "Bearbeitungsdauer (Min.)"
EMAIL = "E-Mail"
GERMAN_TIME = "%d.%m.%Y %H:%M"


def header(partner: Partner) -> list[str]:
    """The export's columns: metadata, the partner's question columns in registry order (the organisation type
    asked among them), contact details."""
    config = partner.connector
    meta = [config.id_column, STARTED, config.submitted_column, DURATION]
    asked = [partner.asked_org_type.field] if partner.asked_org_type else []
    return list(dict.fromkeys([*meta, *partner.mapping, *asked, *partner.identifier_fields, EMAIL]))


def export_row(partner: Partner, codebook: Codebook, response: Response) -> dict[str, str]:
    """A generated response as the partner's tool exports it: local times to the minute, a duration with a
    decimal comma, the answers under the partner's codes and the contact details."""
    local = response.submitted_at.replace(tzinfo=UTC).astimezone(ZoneInfo(partner.connector.timezone))
    minutes = 6 + response.id * 37 % 170 / 10
    return {
        partner.connector.id_column: str(response.id),
        STARTED: (local - timedelta(minutes=minutes)).strftime(GERMAN_TIME),
        partner.connector.submitted_column: local.strftime(GERMAN_TIME),
        DURATION: f"{minutes:.1f}".replace(".", ","),
        EMAIL: response.contact["email"],
        **partner_answers(partner, codebook, response, tick=TICK),
    }


def write_csv(
    path: Path,
    columns: list[str],
    rows: Iterable[dict[str, str]],
    encoding: str = "utf-8-sig",
    delimiter: str = ";",
) -> Path:
    """Write rows as a CSV export; characters the encoding lacks become "?", as Excel writes them."""
    part = path.with_name(path.name + ".part")
    with part.open("w", encoding=encoding, errors="replace", newline="") as out:
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([row.get(column, "") for column in columns] for row in rows)
    os.replace(part, path)
    return path


def write_xlsx(path: Path, columns: list[str], rows: Iterable[dict[str, str]]) -> Path:
    """Write rows as a workbook with the cell types Excel gives them: numbers, date-times and text."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Antworten")
    sheet.append(columns)
    for row in rows:
        sheet.append([_typed(row.get(column, "")) for column in columns])
    part = path.with_name(path.name + ".part")
    book.save(part)
    os.replace(part, path)
    return path


def _typed(text: str) -> object:
    if re.fullmatch(r"\d{1,9}", text):
        return int(text)
    if re.fullmatch(r"\d+,\d+", text):
        return float(text.replace(",", "."))
    if re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", text):
        return datetime.strptime(text, GERMAN_TIME)
    return text or None


def serve_demo(codebook: Codebook, partners: list[tuple[Partner, list[Response]]], workdir: Path) -> DemoService:
    """Each partner's responses as one export per wave in workdir/<partner>/.

    The connector needs no secret, but the registry names a variable for every partner: it gets a random
    value. settle_seconds is 0 because every file is complete before the pipeline looks.
    """
    service = DemoService()
    for partner, generated in partners:
        folder = workdir / partner.id
        folder.mkdir(parents=True, exist_ok=True)
        rows = [export_row(partner, codebook, response) for response in generated]
        for wave in sorted({response.wave for response in generated}):
            in_wave = [row for row, response in zip(rows, generated, strict=True) if response.wave == wave]
            write_csv(folder / f"ChancenCheckLU_Welle_{wave}_Export.csv", header(partner), in_wave)
        service.served[partner.id] = rows
        service.env[partner.secret_env] = secrets.token_urlsafe(16)
        service.overrides[partner.id] = {"folder": str(folder), "settle_seconds": 0}
    return service
