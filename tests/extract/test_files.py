"""The file-drop connector against real files in a temporary drop folder, as partners write them."""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from pydantic import ValidationError

from pipeline.context import Context
from pipeline.contract.codebook import Codebook
from pipeline.errors import PartnerError, PartnerUnreachable
from pipeline.extract import Page
from pipeline.extract.files import FilesConnector, FilesSettings, rejected_files
from pipeline.load.ingest import ingest_partner
from pipeline.registry import Partner, Registry, load_registry
from pipeline.service.lock import Writer, WriterLockTimeout, file_writer, writer_lock
from pipeline.settings import Settings
from pipeline_flows import cli
from pipeline_testkit import demo
from pipeline_testkit.emulators import files as drops
from pipeline_testkit.emulators.synthetic import Plan, Response, responses
from tests.conftest import SHARED, partner_world, query

PARTNER = "staatsphilharmonie-lu"
FREE_TEXT = "F2.8 Unterstützungswunsch (Freitext)"
WISH = "Schulungen für Führungskräfte 🙏 – „Vielfalt“ gemeinsam gestalten"
IDENTIFIERS = ("E-Mail", "Ausgefüllt von")


@pytest.fixture(scope="module")
def partner(demo_registry: Registry) -> Partner:
    return demo_registry.partner(PARTNER)


@pytest.fixture(scope="module")
def generated(demo_registry: Registry, codebook: Codebook, partner: Partner) -> list[Response]:
    """Two waves of the demo partner's responses; the first of each carries an invalid answer."""
    out: list[Response] = []
    for wave, n in zip(demo_registry.waves, (8, 9), strict=True):
        out += responses(codebook, Plan(partner, wave, n, len(out) + 1, invalid=1), demo.SEED, demo.GENERATED_AT)
    return out


def _connector(partner: Partner, folder: Path, **changes: object) -> FilesConnector:
    config = partner.connector.model_copy(update={"folder": folder, "settle_seconds": 0, **changes})
    return config.open(partner.id, "unused", Settings(), partner.identifier_fields)


def _pull(connector: FilesConnector, cursor: str | None = None) -> list[Page]:
    """A pull whose pages are all committed, as ingest does after loading them."""
    pages = list(connector.pull(cursor))
    connector.loaded(pages)
    return pages


def _records(pages: list[Page]) -> list[dict]:
    return [json.loads(r) for p in pages for r in p.records.column("record").to_pylist()]


def _local_minute(response: Response) -> str:
    local = response.submitted_at.replace(tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    return local.replace(second=0, tzinfo=None).isoformat()


def _rows(partner: Partner, codebook: Codebook, generated: list[Response]) -> list[dict[str, str]]:
    rows = [drops.export_row(partner, codebook, r) for r in generated]
    rows[1][FREE_TEXT] = WISH
    return rows


def test_full_pull_reads_one_page_per_file_and_archives_each(
    partner: Partner, codebook: Codebook, generated: list[Response], tmp_path: Path
) -> None:
    service = drops.serve_demo(codebook, [(partner, generated)], tmp_path)
    folder = Path(service.overrides[PARTNER]["folder"])
    names = ["ChancenCheckLU_Welle_2025_Export.csv", "ChancenCheckLU_Welle_2026_Export.csv"]
    bodies = [(folder / name).read_bytes() for name in names]

    pages = _pull(_connector(partner, folder))

    assert [p.request for p in pages] == [f"file:{name}" for name in names]
    assert [p.body for p in pages] == bodies
    ids = [i for p in pages for i in p.records.column("source_id").to_pylist()]
    assert ids == [str(r.id) for r in generated]
    assert [t for p in pages for t in p.records.column("submitted_at").to_pylist()] == [
        _local_minute(r) for r in generated
    ]
    header = [c for c in drops.header(partner) if c not in IDENTIFIERS]
    assert _records(pages) == [{c: row.get(c) or None for c in header} for row in service.served[PARTNER]]
    assert json.loads(pages[-1].cursor) == [hashlib.sha256(b).hexdigest() for b in bodies]
    assert sorted(p.name for p in folder.iterdir()) == ["archiv"]
    assert sorted(p.name for p in (folder / "archiv").iterdir()) == names
    assert service.env[partner.secret_env], "the registry's secret variable gets a value, unused by the connector"


def test_a_large_file_comes_in_pages_and_only_its_last_page_moves_the_cursor_and_archives_it(
    partner: Partner, codebook: Codebook, generated: list[Response], tmp_path: Path
) -> None:
    service = drops.serve_demo(codebook, [(partner, generated)], tmp_path)
    folder = Path(service.overrides[PARTNER]["folder"])
    name = "ChancenCheckLU_Welle_2025_Export.csv"  # 8 rows, then 9 in the 2026 file
    connector = _connector(partner, folder, rows_per_page=3)

    pages = list(connector.pull(None))

    assert [p.request for p in pages[:3]] == [f"file:{name} rows {r}" for r in ("1-3", "4-6", "7-8")]
    assert [p.cursor is not None for p in pages] == [False, False, True, False, False, True]
    assert [i for p in pages for i in p.records.column("source_id").to_pylist()] == [str(r.id) for r in generated]
    connector.loaded(pages[:2])
    assert (folder / name).exists(), "a file stays in the drop folder until its last page is loaded"
    connector.loaded(pages[2:])
    assert sorted(p.name for p in folder.iterdir()) == ["archiv"]


def test_incremental_pull_reads_only_new_files_and_archives_a_file_dropped_again(
    partner: Partner, codebook: Codebook, generated: list[Response], tmp_path: Path
) -> None:
    old, new = generated[:8], generated[8:]
    columns = drops.header(partner)
    rows = _rows(partner, codebook, generated)
    first = drops.write_csv(tmp_path / "antworten_maerz.csv", columns, rows[:8])
    connector = _connector(partner, tmp_path)
    cursor = _pull(connector)[-1].cursor
    edited = {**rows[3], "F1.1 Leitbild": "1" if rows[3].get("F1.1 Leitbild") != "1" else "2"}
    drops.write_csv(tmp_path / "antworten_juni.csv", columns, [edited, *rows[8:]])
    shutil.copy(tmp_path / "archiv" / first.name, tmp_path / "antworten_maerz (1).csv")
    shutil.copy(tmp_path / "archiv" / first.name, tmp_path / first.name)

    pages = _pull(connector, cursor)

    assert [p.request for p in pages] == ["file:antworten_juni.csv"]
    assert pages[0].records.column("source_id").to_pylist() == [str(old[3].id)] + [str(r.id) for r in new]
    assert _records(pages)[0]["F1.1 Leitbild"] == edited["F1.1 Leitbild"]
    hashes = json.loads(pages[0].cursor)
    assert hashes[0] == json.loads(cursor)[0] and len(hashes) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archiv"], "copies dropped again are archived, no page"
    assert sorted(p.name for p in (tmp_path / "archiv").iterdir()) == [
        "antworten_juni.csv",
        "antworten_maerz (1).csv",
        "antworten_maerz.csv",
    ], "the same bytes under a name already archived are not kept twice"
    assert list(_connector(partner, tmp_path).pull(pages[0].cursor)) == []


def test_a_pull_without_cursor_reads_the_archive_again_and_leaves_it_there(
    partner: Partner, codebook: Codebook, generated: list[Response], tmp_path: Path
) -> None:
    drops.write_csv(tmp_path / "welle.csv", drops.header(partner), _rows(partner, codebook, generated))
    _pull(_connector(partner, tmp_path))

    pages = _pull(_connector(partner, tmp_path))

    assert [p.request for p in pages] == ["file:archiv/welle.csv"]
    assert pages[0].records.num_rows == len(generated)
    assert [p.name for p in (tmp_path / "archiv").iterdir()] == ["welle.csv"]


def test_a_weekly_export_under_the_same_name_is_archived_beside_the_last_one(partner: Partner, tmp_path: Path) -> None:
    path = tmp_path / "antworten.csv"
    path.write_text("Antwort-ID;Abgeschickt am\r\n1;01.06.2025 10:00\r\n", encoding="utf-8")
    connector = _connector(partner, tmp_path)
    cursor = _pull(connector)[-1].cursor
    path.write_text("Antwort-ID;Abgeschickt am\r\n2;08.06.2025 10:00\r\n", encoding="utf-8")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    pages = _pull(connector, cursor)

    assert pages[0].records.column("source_id").to_pylist() == ["2"]
    assert sorted(p.name for p in (tmp_path / "archiv").iterdir()) == [f"antworten.{digest[:12]}.csv", "antworten.csv"]


@pytest.mark.parametrize(
    ("name", "write", "settings", "wish"),
    [
        ("excel_utf8.csv", {}, {}, WISH),
        ("excel_ansi.csv", {"encoding": "cp1252", "delimiter": ","}, {}, WISH.replace("🙏", "?")),
        ("ohne_bom.csv", {"encoding": "utf-8"}, {"delimiter": ";"}, WISH),
        ("bom_trotz_ansi.csv", {}, {"encoding": "cp1252"}, WISH),
        ("zwei_bom.csv", {"encoding": "utf-8-sig", "bom": True}, {}, WISH),
        ("unicode_text.txt", {"encoding": "utf-16", "delimiter": "\t"}, {"patterns": ["*.txt"]}, WISH),
        ("tabelle.xlsx", None, {}, WISH),
    ],
)
def test_german_exports_are_read_whatever_encoding_separator_and_format(
    partner: Partner,
    codebook: Codebook,
    generated: list[Response],
    tmp_path: Path,
    name: str,
    write: dict | None,
    settings: dict,
    wish: str,
) -> None:
    """UTF-8 with BOM; Windows-1252 with ',' (emoji become '?'); no BOM; a BOM though cp1252 is configured;
    a BOM twice; Excel's "Unicode-Text" (UTF-16, tabs); an XLSX workbook. Umlauts, emoji, typographic quotes
    and decimal commas come through."""
    rows = _rows(partner, codebook, generated)
    path = tmp_path / name
    if write is None:
        drops.write_xlsx(path, drops.header(partner), rows)
    else:
        drops.write_csv(path, drops.header(partner), rows, **{k: v for k, v in write.items() if k != "bom"})
        if write.get("bom"):
            path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())

    pages = _pull(_connector(partner, tmp_path, **settings))

    records = _records(pages)
    assert [r["Antwort-ID"] for r in records] == [str(r.id) for r in generated]
    assert pages[0].records.column("submitted_at").to_pylist() == [_local_minute(r) for r in generated]
    assert records[1][FREE_TEXT] == wish
    durations = [float(r["Bearbeitungsdauer (Min.)"].replace(",", ".")) for r in records]
    assert durations == [float(row["Bearbeitungsdauer (Min.)"].replace(",", ".")) for row in rows]
    ticked = [(i, c) for i, row in enumerate(rows) for c, v in row.items() if v == drops.TICK]
    assert ticked and all(records[i][c] == drops.TICK for i, c in ticked)
    assert not any(key in record for record in records for key in IDENTIFIERS)


def test_identifiers_stay_in_the_body_but_never_reach_records(
    partner: Partner, codebook: Codebook, generated: list[Response], tmp_path: Path
) -> None:
    drops.write_csv(tmp_path / "a.csv", drops.header(partner), _rows(partner, codebook, generated))
    pages = _pull(_connector(partner, tmp_path))
    assert b"@beispiel.de" in pages[0].body and b"Mustermann" in pages[0].body
    text = "".join(pages[0].records.column("record").to_pylist())
    assert "@beispiel.de" not in text and "Mustermann" not in text
    assert "E-Mail" not in text and "Ausgefüllt von" not in text


def test_line_breaks_inside_cells_stay_in_the_cell(partner: Partner, tmp_path: Path) -> None:
    """Excel writes LF inside a cell and CRLF at the end of a row, also in the header."""
    (tmp_path / "umbruch.csv").write_bytes(
        '\ufeffAntwort-ID;Abgeschickt am;"F2.8 Unterstützungswunsch\n(Freitext)"\r\n'
        '1;01.06.2025 09:05;"Erste Zeile\nzweite Zeile; mit Semikolon"\r\n'
        "2;1.6.2025 9:07;\r\n".encode()
    )
    records = _records(_pull(_connector(partner, tmp_path)))
    assert records == [
        {"Antwort-ID": "1", "Abgeschickt am": "01.06.2025 09:05",
         "F2.8 Unterstützungswunsch\n(Freitext)": "Erste Zeile\nzweite Zeile; mit Semikolon"},
        {"Antwort-ID": "2", "Abgeschickt am": "1.6.2025 9:07", "F2.8 Unterstützungswunsch\n(Freitext)": None},
    ]  # fmt: skip


def test_times_are_read_day_first_and_handed_on_in_the_partner_time_zone(partner: Partner, tmp_path: Path) -> None:
    (tmp_path / "zeiten.csv").write_text(
        "Antwort-ID;Abgeschickt am\r\n1;30.03.2025 01:59\r\n2;30.03.2025 03:00:15\r\n3;31.12.2025\r\n"
        "4;2025-06-01 10:00:00\r\n5;06/01/2025\r\n6;\r\n",
        encoding="utf-8",
    )
    connector = _connector(partner, tmp_path, timezone="Asia/Tokyo")
    pages = _pull(connector)
    assert pages[0].records.column("submitted_at").to_pylist() == [
        "2025-03-30T01:59:00", "2025-03-30T03:00:15", "2025-12-31T00:00:00", "2025-06-01 10:00:00", "06/01/2025", None,
    ]  # fmt: skip
    assert connector.naive_timezone == "Asia/Tokyo"
    assert _connector(partner, tmp_path).naive_timezone == "Europe/Berlin"


def test_columns_without_a_name_and_repeated_names_stay_apart(partner: Partner, tmp_path: Path) -> None:
    """A trailing separator adds an empty unnamed column (dropped); a named column may repeat (LimeSurvey)."""
    (tmp_path / "spalten.csv").write_text(
        "Antwort-ID;Abgeschickt am;Kommentar;Kommentar;;\r\n1;01.06.2025 10:00;a;b;c;\r\n", encoding="utf-8"
    )
    records = _records(_pull(_connector(partner, tmp_path)))
    assert records == [
        {"Antwort-ID": "1", "Abgeschickt am": "01.06.2025 10:00", "Kommentar": "a", "Kommentar (2)": "b",
         "column_5": "c"},
    ]  # fmt: skip


def test_files_being_written_hidden_or_foreign_are_left_alone(partner: Partner, tmp_path: Path) -> None:
    ignored = ["antworten.csv.part", "~$antworten.xlsx", ".antworten.csv", "notizen.txt"]
    for name in ignored:
        (tmp_path / name).write_text("Antwort-ID;Abgeschickt am\r\n1;01.06.2025 10:00\r\n", encoding="utf-8")
    (tmp_path / "ANTWORTEN.CSV").write_text("Antwort-ID;Abgeschickt am\r\n2;01.06.2025 10:00\r\n", encoding="utf-8")

    pages = _pull(_connector(partner, tmp_path))

    assert [p.request for p in pages] == ["file:ANTWORTEN.CSV"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*ignored, "archiv"])


def test_a_file_still_growing_is_taken_only_once_it_has_settled(partner: Partner, tmp_path: Path) -> None:
    path = tmp_path / "antworten.csv"
    path.write_text("Antwort-ID;Abgeschickt am\r\n1;01.06.2025 10:00\r\n", encoding="utf-8")
    connector = _connector(partner, tmp_path, settle_seconds=60)
    assert _pull(connector) == []
    with path.open("a", encoding="utf-8") as out:
        out.write("2;01.06.2025 10:01\r\n")
    written = max(path.stat().st_mtime, path.stat().st_ctime)
    connector.clock = lambda: written + 59
    assert _pull(connector) == []
    connector.clock = lambda: written + 61

    pages = _pull(connector)

    assert pages[0].records.column("source_id").to_pylist() == ["1", "2"]


def test_links_leading_out_of_the_drop_folder_are_ignored(
    partner: Partner, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder, outside = tmp_path / "ablage", tmp_path / "geheim"
    folder.mkdir()
    outside.mkdir()
    (outside / "personal.csv").write_text("Antwort-ID;Abgeschickt am\r\n1;01.06.2025 10:00\r\n", encoding="utf-8")
    (folder / "personal.csv").symlink_to(outside / "personal.csv")
    (folder / "inside.csv").write_text("Antwort-ID;Abgeschickt am\r\n2;01.06.2025 10:00\r\n", encoding="utf-8")
    (folder / "link_inside.csv").symlink_to(folder / "inside.csv")

    pages = _pull(_connector(partner, folder))

    assert [p.records.column("source_id").to_pylist() for p in pages] == [["2"]]
    assert "personal.csv leads outside its folder; ignored" in caplog.text
    assert (outside / "personal.csv").exists() and (folder / "personal.csv").is_symlink()


def test_real_limesurvey_csv_export_dropped_as_a_file(partner: Partner, tmp_path: Path) -> None:
    """LimeSurvey's CSV exports recorded by NES (shared/payloads): ',' without BOM, a blank last line, ISO
    times, a token column (an identifier) and, with full headings, a column name that occurs twice."""
    samples = SHARED / "payloads" / "limesurvey"
    codes, full_headings = tmp_path / "codes", tmp_path / "full"
    for folder, sample in [
        (codes, "nes_export_responses_csv_3rows_unicode_fileupload.csv"),
        (full_headings, "nes_export_responses_csv_full_headings_german_duplicate_headers.csv"),
    ]:
        folder.mkdir()
        shutil.copy(samples / sample, folder / sample)

    pages = _pull(_connector(partner, codes, id_column="id", submitted_column="submitdate"))
    full_pages = _pull(_connector(partner, full_headings, id_column="Response ID", submitted_column="Date submitted"))

    records = _records(pages)
    assert [r["id"] for r in records] == ["1", "2", "3"] and records[0]["firstQuestion"] == "Olá Mundo!"
    assert pages[0].records.column("submitted_at").to_pylist()[0] == "2019-06-26 09:16:43"
    assert all("token" not in r for r in records)
    (full,) = _records(full_pages)
    assert "Mehrfachauswahl mit Kommentaren [Comment] (2)" in full and "Token" not in full
    assert full["Fünf Punkte Wahl"] == "5"


def test_a_missing_drop_folder_is_unreachable(partner: Partner, tmp_path: Path) -> None:
    with pytest.raises(PartnerUnreachable) as excinfo:
        _pull(_connector(partner, tmp_path / "fehlt"))
    assert str(excinfo.value) == (
        f"partner {PARTNER}: drop folder {tmp_path / 'fehlt'} does not exist or is not a folder; "
        "check that the share is mounted and the connector's folder setting"
    )


@pytest.mark.parametrize(
    ("content", "settings", "message"),
    [
        (
            b"ID;Datum\r\n1;01.06.2025 10:00\r\n",
            {},
            "file x.csv has no column 'Antwort-ID' (its columns: ID, Datum); set id_column in the partner's "
            "connector settings or ask the partner for the agreed export",
        ),
        (
            "Antwort-ID;Abgeschickt am;Kommentar\r\n1;01.06.2025 10:00;Grüße\r\n".encode("cp1252"),  # ü: byte 58
            {"encoding": "utf-8"},
            "file x.csv is not utf-8 text (byte 58); set encoding in the partner's connector settings or ask "
            "the partner to export as 'CSV UTF-8'",
        ),
        (
            b"Antwort-ID;Abgeschickt am\r\n1;01.06.2025 10:00\x81\r\n",
            {},
            "file x.csv is not utf-8 or cp1252 text (byte 45); set encoding in the partner's connector settings or "
            "ask the partner to export as 'CSV UTF-8'",
        ),
        (
            b"Antwort-ID;Abgeschickt am;E-Mail\r\n1;01.06.2025 10:00;a@beispiel.de\r\n2;x;b@beispiel.de;zu viel\r\n",
            {},
            "file x.csv is not a readable CSV (CSV Error on Line: 3; Expected Number of Columns: 3 Found: 4); "
            "ask the partner to export it again",
        ),
        (
            b'Antwort-ID;"Abgeschickt am\r\n1;01.06.2025 10:00\r\n',
            {},
            "file x.csv: a quote in the header row is never closed; ask for a new export",
        ),
        (
            b"\r\nAntwort-ID;Abgeschickt am\r\n1;01.06.2025 10:00\r\n",
            {},
            "file x.csv: the first line is empty; the header row must come first",
        ),
    ],
    ids=["no-id-column", "wrong-encoding", "no-known-encoding", "row-too-long", "header-quote-open", "blank-first"],
)
def test_an_unreadable_csv_names_partner_file_and_what_to_do(
    partner: Partner, tmp_path: Path, content: bytes, settings: dict, message: str
) -> None:
    (tmp_path / "x.csv").write_bytes(content)
    assert _pull(_connector(partner, tmp_path, **settings)) == []
    reason = (tmp_path / "rejected" / "x.csv.reason.txt").read_text(encoding="utf-8")
    assert reason == f"partner {PARTNER}: {message}\n"
    assert "beispiel.de" not in reason, "no cell content in the reason"
    assert (tmp_path / "rejected" / "x.csv").read_bytes() == content, "the file stays for the operator, aside"


def test_a_broken_workbook_names_partner_and_file(partner: Partner, tmp_path: Path) -> None:
    (tmp_path / "antworten.xlsx").write_text("Antwort-ID;Abgeschickt am\r\n", encoding="utf-8")
    assert _pull(_connector(partner, tmp_path)) == []
    assert rejected_files(_connector(partner, tmp_path).config) == [
        (
            "antworten.xlsx",
            f"partner {PARTNER}: file antworten.xlsx is not a readable XLSX workbook (BadZipFile); ask the partner "
            "to save it again as Excel-Arbeitsmappe (*.xlsx)",
        )
    ]


def test_one_unreadable_file_is_moved_aside_and_the_partners_other_files_load(
    settings: Settings, codebook: Codebook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """One bad file failed the whole pull, so none of the partner's files loaded, night after night."""
    with partner_world(settings, tmp_path, monkeypatch, PARTNER) as world:
        folder = (
            load_registry(Settings().partners_file, codebook, check_secrets=False).partner(PARTNER).connector.folder
        )
        bad = folder / "0_kaputt.csv"
        bad.write_bytes(b"ID;Datum\r\n1;01.06.2025 10:00\r\n")
        os.utime(bad, (1, 1))  # the oldest file: read first
        run = ingest_partner(Context.from_environment(), PARTNER, "run-1")
        assert cli.main(["status"]) == 0
    truth = world.generated[PARTNER]
    assert run.status == "ok" and run.fetched == len(truth) and run.pages == 2
    assert (folder / "rejected" / "0_kaputt.csv").exists() and not bad.exists()
    shown = " ".join(capsys.readouterr().out.split())
    where = folder / "rejected" / "0_kaputt.csv"
    assert f"rejected file {PARTNER}: {where}: partner {PARTNER}: file 0_kaputt.csv has no column 'Antwort-ID'" in shown


def test_a_cursor_of_another_kind_is_refused(partner: Partner, tmp_path: Path) -> None:
    with pytest.raises(PartnerError) as excinfo:
        _pull(_connector(partner, tmp_path), "2025-06-01T10:00:00")
    assert str(excinfo.value) == (
        f"partner {PARTNER}: the stored cursor is not a list of file hashes (did the partner change connector "
        "kind?); delete the partner's row in ops.cursors to read every file in the drop folder again"
    )


def test_an_archive_that_cannot_be_written_fails_after_loading(partner: Partner, tmp_path: Path) -> None:
    (tmp_path / "archiv").write_text("kein Ordner", encoding="utf-8")
    (tmp_path / "a.csv").write_text("Antwort-ID;Abgeschickt am\r\n1;01.06.2025 10:00\r\n", encoding="utf-8")
    connector = _connector(partner, tmp_path)
    pages = list(connector.pull(None))
    with pytest.raises(PartnerError) as excinfo:
        connector.loaded(pages)
    assert str(excinfo.value) == (
        f"partner {PARTNER}: file a.csv is loaded but could not be moved to {tmp_path / 'archiv'} "
        "(FileExistsError); it will not be loaded twice; give the pipeline write access to the drop and "
        "archive folders"
    )
    again = list(_connector(partner, tmp_path).pull(pages[0].cursor))
    assert again == [] and (tmp_path / "a.csv").exists(), "never loaded twice; new files would still load"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"patterns": ["../*.csv"]}, "patterns match file names in the folder, never paths"),
        ({"encoding": "latin-9000"}, "unknown encoding 'latin-9000'"),
        ({"timezone": "Europe/Ludwigshafen"}, "unknown time zone 'Europe/Ludwigshafen'"),
        ({"delimiter": '"'}, "String should match pattern"),
        ({"id_column": ""}, "String should have at least 1 character"),
    ],
)
def test_invalid_settings_say_which_and_why(partner: Partner, change: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        FilesSettings.model_validate({**partner.connector.model_dump(), **change})


def test_ingest_loads_the_drops_into_core_as_generated_and_only_once(
    settings: Settings, codebook: Codebook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with partner_world(settings, tmp_path, monkeypatch, PARTNER) as world:
        first = ingest_partner(Context.from_environment(), PARTNER, "run-1")
        again = ingest_partner(Context.from_environment(), PARTNER, "run-2")
        con = duckdb.connect(str(Settings().db_path))
        con.execute("delete from ops.cursors")  # forget the cursor: the next pull reads the archive again
        con.close()
        reread = ingest_partner(Context.from_environment(), PARTNER, "run-3")
        answers = query(
            Settings(),
            "select s.source_id, a.item_code, coalesce(a.answer_code, a.answer_text) from core.answers a "
            "join core.responses r using (respondent_key) join staging.responses s on s.record_id = r.record_id",
        )
        times = query(
            Settings(),
            "select s.source_id, r.submitted_at from core.responses r join staging.responses s using (record_id)",
        )
        quarantined = query(Settings(), "select distinct source_id from ops.quarantine")
    truth = world.generated[PARTNER]
    valid = [r for r in truth if not r.invalid]
    item_types = {item.code: item.type for item in codebook.items}
    expected = {
        (str(r.id), item, value)
        for r in valid
        for item, answer in r.answers.items()
        for value in (answer.split() if item_types[item] == "multi" else [answer])
    }
    assert (first.fetched, first.inserted, first.quarantined, first.pages) == (len(truth), len(valid), 2, 2)
    assert first.unmapped_fields == set()
    assert (again.fetched, again.pages) == (0, 0)
    assert (reread.fetched, reread.unchanged, reread.pages) == (len(truth), len(truth), 2)
    assert set(answers) == expected
    assert any(value == "wn" for _, _, value in answers), "'weiß nicht' in the files is recoded to wn"
    assert {(i, t.astimezone(UTC)) for i, t in times} == {
        (str(r.id), r.submitted_at.replace(second=0, tzinfo=UTC)) for r in valid
    }
    berlin = ZoneInfo("Europe/Berlin")
    offsets = {r.submitted_at.replace(tzinfo=UTC).astimezone(berlin).utcoffset() for r in valid}
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}, "winter and summer time both occur"
    assert set(quarantined) == {(str(r.id),) for r in truth if r.invalid}


def test_a_run_stopped_within_a_file_loads_the_rest_next_time_and_nothing_twice(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_BATCH_ROWS", "3")
    monkeypatch.setenv("PIPELINE_WRITER_WAIT_SECONDS", "0.3")
    with partner_world(settings, tmp_path, monkeypatch, PARTNER, rows_per_page=3) as world:
        ctx = Context.from_environment()
        folder = Path(world.services["files"].overrides[PARTNER]["folder"])
        names = sorted(p.name for p in folder.glob("*.csv"))
        with pytest.raises(WriterLockTimeout):
            ingest_partner(ctx, PARTNER, "run-1", writer=_taken_by_another_run_at(3, ctx.settings))
        stopped = query(Settings(), "select inserted + quarantined, error is not null from ops.runs")
        left = sorted(p.name for p in folder.glob("*.csv"))
        run = ingest_partner(Context.from_environment(), PARTNER, "run-2")
        stored = query(Settings(), "select count(*), count(distinct respondent_key) from core.responses")
    truth = world.generated[PARTNER]
    valid = [r for r in truth if not r.invalid]
    assert stopped == [(3, True)], "the first batch of 3 rows was committed before the run stopped"
    assert left == names, "no file is archived before its last page is loaded"
    assert (run.fetched, run.unchanged, run.inserted + run.quarantined) == (len(truth), 3, len(truth) - 3)
    assert stored == [(len(valid), len(valid))]
    assert sorted(p.name for p in (folder / "archiv").iterdir()) == names


def _taken_by_another_run_at(call: int, settings: Settings) -> Writer:
    """The file's writer, except that at the given acquisition another run holds the lock meanwhile."""
    calls = 0

    @contextmanager
    def writer(holder: str) -> Iterator[None]:
        nonlocal calls
        calls += 1
        with ExitStack() as others:
            if calls == call:
                others.enter_context(writer_lock(settings.db_path, "another run", 0))
            with file_writer(settings)(holder):
                yield

    return writer


def test_an_edited_response_in_a_later_drop_replaces_the_loaded_one(
    settings: Settings, codebook: Codebook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with partner_world(settings, tmp_path, monkeypatch, PARTNER) as world:
        ingest_partner(Context.from_environment(), PARTNER, "run-1")
        partner = world.registry.partner(PARTNER)
        row = next(r for r, g in zip(world.served[PARTNER], world.generated[PARTNER], strict=True) if not g.invalid)
        edited = {**row, "F1.1 Leitbild": "5" if row.get("F1.1 Leitbild") != "5" else "4"}
        new = {**row, "Antwort-ID": "9001"}
        folder = Path(world.services["files"].overrides[PARTNER]["folder"])
        drops.write_csv(folder / "Nachtrag.csv", drops.header(partner), [edited, new])

        run = ingest_partner(Context.from_environment(), PARTNER, "run-2")
        value = query(
            Settings(),
            "select a.answer_code from core.answers a join core.responses r using (respondent_key) "
            "join staging.responses s on s.record_id = r.record_id where s.source_id = ? and a.item_code = 'HF1_01'",
            [row["Antwort-ID"]],
        )
    assert (run.fetched, run.updated, run.inserted, run.pages) == (2, 1, 1, 1)
    assert value == [(edited["F1.1 Leitbild"],)]
    assert sorted(p.name for p in (folder / "archiv").iterdir())[-1] == "Nachtrag.csv"


def test_the_demo_writes_german_csv_exports(partner: Partner, codebook: Codebook, generated, tmp_path) -> None:
    service = drops.serve_demo(codebook, [(partner, generated)], tmp_path)
    body = (tmp_path / PARTNER / "ChancenCheckLU_Welle_2025_Export.csv").read_bytes()
    assert body.startswith(b"\xef\xbb\xbfAntwort-ID;Gestartet am;Abgeschickt am;Bearbeitungsdauer (Min.);")
    assert body.endswith(b"\r\n")
    assert sorted(p.name for p in (tmp_path / PARTNER).iterdir()) == [
        "ChancenCheckLU_Welle_2025_Export.csv",
        "ChancenCheckLU_Welle_2026_Export.csv",
    ]
    first = service.served[PARTNER][0]
    assert datetime.strptime(first["Abgeschickt am"], "%d.%m.%Y %H:%M").isoformat() == _local_minute(generated[0])
    assert "," in first["Bearbeitungsdauer (Min.)"]
    assert service.overrides[PARTNER] == {"folder": str(tmp_path / PARTNER), "settle_seconds": 0}
