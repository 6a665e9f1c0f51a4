"""CSV and XLSX file drops: a partner puts export files into its drop folder; each file is loaded once, then archived.

One page per file: request "file:<name>", body the file's bytes, records one per data row. Decisions:

- Which files: those in `folder` itself (not its subfolders, so not the archive inside it) whose name
  matches one of `patterns` (case-insensitive). Hidden files, `~$*` (Office lock files) and `*.part` are
  skipped, and so is a file changed within the last `settle_seconds` (its newest of mtime and ctime: a copy
  that keeps the source's mtime still moves ctime) or while it was read: it is still being written and is
  taken on a later run, never half-read. A symlink is followed only to a file inside the folder. Files are
  read oldest first, so a later correction of a response wins.
- Processed once: the cursor is a JSON list of the sha256 of every file loaded so far. A file whose hash is
  in it was loaded before (the partner dropped it again, or archiving failed last time): skipped and
  archived. `loaded(pages)` moves loaded files to `archive` (default `<folder>/archiv`, created on demand); a
  name already taken there by other bytes gets the hash's first 12 hex digits appended. A pull without a
  cursor ("all responses") reads the archive too, so forgetting a partner's cursor reloads everything.
- Text: a byte order mark decides (UTF-8 or UTF-16, whatever `encoding` says, so a stray BOM never ends up
  in the first column's name); without one, `encoding: auto` takes UTF-8 when the bytes are valid UTF-8 and
  Windows-1252 (German Excel's "CSV (Trennzeichen-getrennt)") otherwise. `delimiter: auto` takes whichever of
  `;` `,` and tab splits the header row (quotes respected) into the most columns, `;` on a tie. Rows end as
  the header row does, so a line break inside a cell (Excel writes LF inside CRLF rows) stays in the cell.
  DuckDB reads every column as text (read_csv, no Python loop over rows).
- XLSX: the first worksheet through openpyxl (read-only, formulas as their cached values). That is a loop
  over rows inside openpyxl's reader, acceptable for the sizes partners send. Cells become the text a CSV
  would hold: whole numbers without a decimal part, other numbers with the `decimal` separator, date cells
  as ISO timestamps, TRUE/FALSE as true/false.
- Columns: the header row names them, and those names are the partner codes the mapping uses. A column
  without a name is dropped when it is empty (a trailing separator) and called `column_<n>` otherwise; a
  name that occurs again gets " (2)", " (3)" appended. Columns that are direct identifiers (the built-in
  list and the partner's `identifier_fields`) are left out of the record. Values stay text as sent (answers
  are codes; decimal commas are not converted); empty cells are null; completely empty rows are dropped.
- Submission time: `submitted_column`, parsed with `date_formats` (day first, dd.mm.yyyy [HH:MM[:SS]]) into
  an ISO string without offset, which the loader reads in `timezone` (default Europe/Berlin) and stores as
  UTC. A value already in ISO form passes as it is; any other is kept as sent, so validation quarantines
  the response naming the value. A response without id or time is quarantined the same way; that is how a
  row an export marks as incomplete (no submission time) shows: ask partners to export completed ones only.
- A file that cannot be read as a table (no header, a column the connector needs missing, text in no
  known encoding, a broken XLSX) is moved to `<folder>/rejected/` with `<name>.reason.txt` beside it, and the
  partner's other files load; `pipeline status` lists what lies there. A corrected export dropped again loads.
- Edits and deletions: a response id that comes again in a later file is a new version (latest wins,
  raw keeps both). A drop cannot delete: a response missing from a later file stays loaded.
- The secret: a drop folder has no credential (access is the file system's); the registry still names a
  secret variable, whose value is not used.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import hashlib
import io
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from datetime import time as clock
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import duckdb
import openpyxl
import pyarrow as pa
from openpyxl.utils.exceptions import InvalidFileException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.errors import PartnerError, PartnerUnreachable, PayloadError
from pipeline.extract import RECORD_SCHEMA, FormLabels, Page, TimeZoneName
from pipeline.extract.json_records import is_identifier

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger(__name__)

DAY_FIRST = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y")
DELIMITERS = (";", ",", "\t")  # `;` first: it wins a tie, as German Excel writes it
UNFINISHED_SUFFIXES = (".part", ".crdownload", ".tmp")
REJECTED = "rejected"  # beside the files: those that could not be read, each with its reason
REASON_SUFFIX = ".reason.txt"
# Phrases of DuckDB's CSV errors that say where and what without quoting cell content.
_CSV_PROBLEMS = re.compile(
    r"CSV Error on Line: \d+|Expected Number of Columns: \d+ Found: \d+|Value with unterminated quote found"
    r"|Maximum line size of \d+ bytes exceeded|The CSV Parser state machine reached an invalid state"
)
# The header row: quoted cells may hold separators and line breaks; what follows it is the row terminator.
_HEADER_ROW = re.compile(r'(?:[^"\r\n]|"(?:[^"]|"")*")*(\r\n|\n|\r)?')


class FilesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["files"]
    folder: Path
    archive: Path = Path("archiv")  # relative to folder unless absolute
    patterns: tuple[str, ...] = ("*.csv", "*.xlsx")
    encoding: str = "auto"
    delimiter: str = Field(default="auto", pattern=r'^(auto|[^"\r\n])$')
    decimal: Literal[",", "."] = ","
    date_formats: tuple[str, ...] = Field(default=DAY_FIRST, min_length=1)
    reread_days: ClassVar[None] = None  # a file is read once; a corrected response comes in a new file
    volatile_fields: ClassVar[tuple[str, ...]] = ()  # every column is part of a response's version
    timezone: TimeZoneName = "Europe/Berlin"
    id_column: str = Field(min_length=1)
    submitted_column: str = Field(min_length=1)
    # Columns the partner's export adds to every row that are not questions (start time, duration): known,
    # so never reported as unmapped partner questions.
    metadata_columns: tuple[str, ...] = ()
    settle_seconds: float = Field(default=2.0, ge=0)

    @field_validator("patterns")
    @classmethod
    def _names_only(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        bad = [p for p in patterns if "/" in p or "\\" in p or ".." in p]
        if bad:
            raise ValueError(f"patterns match file names in the folder, never paths: {bad}")
        return patterns

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        if encoding != "auto":
            try:
                codecs.lookup(encoding)
            except LookupError as exc:
                raise ValueError(f"unknown encoding {encoding!r} (use auto, utf-8 or cp1252)") from exc
        return encoding

    @property
    def archive_folder(self) -> Path:
        return self.folder / self.archive

    @property
    def source(self) -> str:
        """Where the responses come from: the drop folder as configured (moving it makes a new source)."""
        return f"files:{self.folder}"

    def open(
        self, partner_id: str, secret: str, settings: Settings, drop: tuple[str, ...], *, until: float | None = None
    ) -> FilesConnector:
        """secret, settings and until are not needed: the drop folder is all there is, read in moments."""
        return FilesConnector(partner_id, self, drop)

    def response_fields(self) -> dict[str, str]:
        """The tool's own names of a response's id and of its submission time: what a partner reads in a
        rejection of either."""
        return {"source_id": self.id_column, "submitted_at": self.submitted_column}


def rejected_files(config: FilesSettings) -> list[tuple[str, str]]:
    """(file name, reason) of the files a pull moved aside and nobody has removed yet."""
    folder = config.folder / REJECTED
    if not folder.is_dir():
        return []
    return [
        (note.name.removesuffix(REASON_SUFFIX), note.read_text(encoding="utf-8").strip())
        for note in sorted(folder.glob(f"*{REASON_SUFFIX}"))
    ]


class FilesConnector:
    omits_unanswered = False  # every row has every column of the file's header
    # What "now" is when a file's settling is judged (seconds since the epoch, as file times are).
    clock: Callable[[], float] = staticmethod(time.time)

    def __init__(self, partner_id: str, config: FilesSettings, drop: tuple[str, ...]) -> None:
        self.partner_id = partner_id
        self.config = config
        self.naive_timezone = config.timezone
        self.metadata_fields = frozenset({config.id_column, config.submitted_column, *config.metadata_columns})
        self._drop = drop
        # Files yielded but not yet archived: request → (path, sha256).
        self._pending: dict[str, tuple[Path, str]] = {}

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """One page per new file, oldest first; the cursor of each page lists the hashes loaded with it.

        Without a cursor the pull reads the archive too: all files ever loaded, then the new ones.
        """
        hashes = self._hashes(cursor)
        stored, seen = set(hashes), set(hashes)
        duck = duckdb.connect()
        try:
            with tempfile.TemporaryDirectory(prefix="drop-") as scratch:
                for entry, path in self._ready_files(with_archive=cursor is None):
                    body = self._read(path)
                    if body is None:
                        continue
                    digest = hashlib.sha256(body).hexdigest()
                    if digest in stored:
                        self._archive_again(entry, digest)
                    if digest in seen:
                        continue  # loaded before, or a copy of a file earlier in this pull
                    try:
                        records = self._records(duck, entry.name, body, Path(scratch))
                    except PayloadError as exc:
                        self._reject(entry, str(exc))
                        continue
                    seen.add(digest)
                    hashes = [*hashes, digest]
                    request = f"file:{self._label(entry)}"
                    self._pending[request] = (entry, digest)
                    yield Page(request, body, records, json.dumps(hashes))
        finally:
            duck.close()

    def form_labels(self) -> FormLabels:
        """A file drop has no form to read: the folder readable is all there is to prove; no labels."""
        waiting = self._ready_files(with_archive=False)
        return FormLabels(f"drop folder {self.config.folder} with {len(waiting)} files waiting")

    def loaded(self, pages: list[Page]) -> None:
        """Move the files of committed pages to the archive: their hashes are in the stored cursor already."""
        for page in pages:
            self._archive(*self._pending.pop(page.request))

    def _hashes(self, cursor: str | None) -> list[str]:
        if not cursor:
            return []
        try:
            hashes = json.loads(cursor)
        except ValueError:
            hashes = None
        if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
            raise PartnerError(
                self.partner_id,
                "the stored cursor is not a list of file hashes (did the partner change connector kind?); "
                "delete the partner's row in ops.cursors to read every file in the drop folder again",
            )
        return hashes

    def _ready_files(self, with_archive: bool) -> list[tuple[Path, Path]]:
        """(entry, file it is or links to) to read now, oldest first: matching a pattern, finished, settled."""
        folder = self.config.folder
        try:
            entries = self._entries(folder)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise PartnerUnreachable(
                self.partner_id,
                f"drop folder {folder} does not exist or is not a folder; check that the share is mounted and "
                "the connector's folder setting",
            ) from exc
        except PermissionError as exc:
            raise PartnerError(
                self.partner_id, f"drop folder {folder} cannot be read; give the pipeline's user read access"
            ) from exc
        if with_archive and self.config.archive_folder.is_dir():
            try:
                entries += self._entries(self.config.archive_folder)
            except OSError as exc:
                raise PartnerError(
                    self.partner_id,
                    f"archive folder {self.config.archive_folder} cannot be read ({type(exc).__name__}); give the "
                    "pipeline's user read access",
                ) from exc
        now = self.clock()
        ready: list[tuple[float, str, Path, Path]] = []
        for entry, path in entries:
            try:
                info = path.stat()
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            if self.config.settle_seconds and now - max(info.st_mtime, info.st_ctime) < self.config.settle_seconds:
                log.info("partner %s: %s changed just now; taken on a later run", self.partner_id, entry.name)
                continue
            ready.append((info.st_mtime, entry.name, entry, path))
        return [(entry, path) for _, _, entry, path in sorted(ready)]

    def _entries(self, folder: Path) -> list[tuple[Path, Path]]:
        """(entry, resolved path) of the wanted names in folder; a link leading out of it is ignored."""
        root = folder.resolve(strict=True)
        out = []
        for entry in os.scandir(root):
            if not self._wanted(entry.name):
                continue
            path = Path(entry.path).resolve()
            if path.parent != root:
                log.warning("partner %s: %s leads outside its folder; ignored", self.partner_id, entry.name)
                continue
            out.append((Path(entry.path), path))
        return out

    def _wanted(self, name: str) -> bool:
        lower = name.lower()
        if lower.startswith((".", "~$")) or lower.endswith(UNFINISHED_SUFFIXES):
            return False
        return any(fnmatch.fnmatchcase(lower, pattern.lower()) for pattern in self.config.patterns)

    def _read(self, path: Path) -> bytes | None:
        """The file's bytes, or None when it changed while being read (still being written)."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            log.info("partner %s: %s cannot be opened now (%s)", self.partner_id, path.name, type(exc).__name__)
            return None
        with os.fdopen(fd, "rb") as handle:
            before = os.fstat(handle.fileno())
            body = handle.read()
            after = os.fstat(handle.fileno())
        if _stamp(before) != _stamp(after) or len(body) != after.st_size:
            log.info("partner %s: %s changed while being read; taken on a later run", self.partner_id, path.name)
            return None
        return body

    def _label(self, entry: Path) -> str:
        """The file's name, with the archive's folder in front when it was read from there."""
        archive = self.config.archive_folder
        return f"{archive.name}/{entry.name}" if entry.parent == archive.resolve() else entry.name

    def _reject(self, entry: Path, reason: str) -> None:
        """Move a file that cannot be read as a table aside, with its reason beside it, so that the partner's
        other files still load; `pipeline status` lists it. A file in the archive was read before: left there."""
        log.warning("%s; moved to %s", reason, REJECTED)
        if entry.parent == self.config.archive_folder.resolve():
            return
        rejected = self.config.folder / REJECTED
        try:
            rejected.mkdir(exist_ok=True)
            target = rejected / entry.name
            shutil.move(entry, target)
            target.with_name(target.name + REASON_SUFFIX).write_text(reason + "\n", encoding="utf-8")
        except OSError as exc:
            raise PartnerError(
                self.partner_id,
                f"{reason}; it could not be moved to {rejected} ({type(exc).__name__}): give the pipeline write "
                "access to the drop folder",
            ) from exc

    def _archive_again(self, entry: Path, digest: str) -> None:
        """Archive a file loaded before; if that fails again, new files still load (loaded() reports it)."""
        try:
            self._archive(entry, digest)
        except PartnerError as exc:
            log.warning("%s", exc)

    def _archive(self, entry: Path, digest: str) -> None:
        """Move a loaded file to the archive (a file read from the archive stays where it is)."""
        archive = self.config.archive_folder
        if entry.parent == archive.resolve():
            return
        target = archive / entry.name
        try:
            if target.exists() and _sha256(target) != digest:
                target = archive / f"{entry.stem}.{digest[:12]}{entry.suffix}"
            archive.mkdir(parents=True, exist_ok=True)
            if target.exists():
                entry.unlink()  # the same bytes are archived already
            else:
                shutil.move(entry, target)
        except OSError as exc:
            raise PartnerError(
                self.partner_id,
                f"file {entry.name} is loaded but could not be moved to {archive} ({type(exc).__name__}); it "
                "will not be loaded twice; give the pipeline write access to the drop and archive folders",
            ) from exc

    def _records(self, con: duckdb.DuckDBPyConnection, name: str, body: bytes, scratch: Path) -> pa.Table:
        """The file's rows as RECORD_SCHEMA, read into the temp table drop_rows (columns c0, c1, ...) first."""
        if name.lower().endswith((".xlsx", ".xlsm")):
            header = _xlsx_rows(con, self.partner_id, name, body, self.config.decimal)
        else:
            text = _decode(self.partner_id, name, body, self.config.encoding)
            header = _csv_rows(con, self.partner_id, name, text, self.config.delimiter, scratch)
        if header is None:
            return RECORD_SCHEMA.empty_table()
        codes = _partner_codes(con, header)
        by_code = {code: column for column, code in codes.items()}
        for setting in ("id_column", "submitted_column"):
            wanted = getattr(self.config, setting)
            if wanted not in by_code:
                shown = ", ".join(list(by_code)[:12]) + (", ..." if len(by_code) > 12 else "")
                raise PayloadError(
                    self.partner_id,
                    f"file {name} has no column {wanted!r} (its columns: {shown}); set {setting} in the partner's "
                    "connector settings or ask the partner for the agreed export",
                )
        kept = {column: code for column, code in codes.items() if not is_identifier(code, self._drop)}
        return _select_records(
            con, by_code[self.config.id_column], by_code[self.config.submitted_column], kept, self.config.date_formats
        )


def _partner_codes(con: duckdb.DuckDBPyConnection, header: list[str]) -> dict[str, str]:
    """Column of drop_rows → partner code: the header cell, made unique; an unnamed column is dropped when it
    is empty (a trailing separator) and called column_<n> otherwise."""
    names = [cell.replace("\ufeff", "").strip() for cell in header]
    unnamed = [i for i, name in enumerate(names) if not name]
    filled: dict[int, int] = {}
    if unnamed:
        counts = con.execute("select " + ", ".join(f"count(c{i})" for i in unnamed) + " from drop_rows").fetchall()[0]
        filled = dict(zip(unnamed, counts or (), strict=True))
    codes: dict[str, str] = {}
    taken: set[str] = set()
    for i, name in enumerate(names):
        if not name and not filled[i]:
            continue
        code = name or f"column_{i + 1}"
        unique, n = code, 1
        while unique in taken:
            n += 1
            unique = f"{code} ({n})"
        taken.add(unique)
        codes[f"c{i}"] = unique
    return codes


def _stamp(info: os.stat_result) -> tuple[int, int, int]:
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _decode(partner_id: str, name: str, body: bytes, encoding: str) -> str:
    """The text of a CSV file: a byte order mark decides, then the configured encoding, or UTF-8 and, failing
    that, Windows-1252."""
    if body.startswith(codecs.BOM_UTF8):
        tried = ["utf-8-sig"]
    elif body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        tried = ["utf-16"]
    else:
        tried = ["utf-8", "cp1252"] if encoding == "auto" else [encoding]
    for codec in tried:
        try:
            return body.decode(codec).lstrip("\ufeff")
        except UnicodeDecodeError as exc:
            error = exc
    raise PayloadError(
        partner_id,
        f"file {name} is not {' or '.join(tried)} text (byte {error.start}); set encoding in the partner's "
        "connector settings or ask the partner to export as 'CSV UTF-8'",
    ) from error


def _csv_rows(
    con: duckdb.DuckDBPyConnection, partner_id: str, name: str, text: str, delimiter: str, scratch: Path
) -> list[str] | None:
    """Load the CSV text's rows into drop_rows; returns its header row (None for an empty file)."""
    if not text.strip():
        return None
    head = _HEADER_ROW.match(text)
    header_text, terminator = head.group(0), head.group(1) or "\n"  # type: ignore[union-attr]
    if head.group(1) is None and head.end() < len(text):  # type: ignore[union-attr]
        raise PayloadError(partner_id, f"file {name}: a quote in the header row is never closed; ask for a new export")
    if not header_text.strip():
        raise PayloadError(partner_id, f"file {name}: the first line is empty; the header row must come first")
    delimiter = delimiter if delimiter != "auto" else _sniff(header_text)
    header = next(csv.reader(io.StringIO(header_text, newline=""), delimiter=delimiter), [])
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header))) + "}"
    path = scratch / "drop.csv"
    path.write_text(text, encoding="utf-8", newline="")
    try:
        con.execute(
            "create or replace temp table drop_rows as select * from read_csv(?, delim = ?, quote = '\"', "
            f"escape = '\"', new_line = ?, header = true, auto_detect = false, columns = {columns})",
            [str(path), delimiter, terminator.encode("unicode_escape").decode()],
        )
    except duckdb.Error as exc:
        raise PayloadError(
            partner_id, f"file {name} is not a readable CSV ({_csv_problem(exc)}); ask the partner to export it again"
        ) from exc
    rows = con.execute("select count(*) from drop_rows").fetchall()[0][0]
    if not rows and text[len(header_text) :].strip():
        raise PayloadError(partner_id, f"file {name}: no row could be read past the header; ask for a new export")
    return header


def _sniff(header_text: str) -> str:
    """The separator that splits the header row (quotes respected) into the most columns; `;` on a tie."""
    widths = {d: len(next(csv.reader(io.StringIO(header_text, newline=""), delimiter=d), [])) for d in DELIMITERS}
    return max(DELIMITERS, key=lambda d: widths[d])


def _csv_problem(exc: duckdb.Error) -> str:
    """Where and what, in DuckDB's words: only the phrases known to carry no cell content (the offending line
    that DuckDB quotes may name a person)."""
    said = dict.fromkeys(_CSV_PROBLEMS.findall(str(exc)))
    return "; ".join(said) or type(exc).__name__


def _xlsx_rows(
    con: duckdb.DuckDBPyConnection, partner_id: str, name: str, body: bytes, decimal: str
) -> list[str] | None:
    """Load the first worksheet's rows into drop_rows; returns its header row (None for an empty sheet)."""
    try:
        book = openpyxl.load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise PayloadError(
            partner_id,
            f"file {name} is not a readable XLSX workbook ({type(exc).__name__}); ask the partner to save it "
            "again as Excel-Arbeitsmappe (*.xlsx)",
        ) from exc
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = [_cell(v, decimal) or "" for v in next(rows, ())]
        data = [[_cell(v, decimal) for v in row] for row in rows]
    finally:
        book.close()
    if not header:
        return None
    width = max([len(header), *(len(row) for row in data)])
    header += [""] * (width - len(header))
    columns = [[row[i] if i < len(row) else None for row in data] for i in range(width)]
    table = pa.table({f"c{i}": pa.array(column, pa.string()) for i, column in enumerate(columns)})
    con.register("drop_sheet", table)
    try:
        con.execute("create or replace temp table drop_rows as select * from drop_sheet")
    finally:
        con.unregister("drop_sheet")
    return header


def _cell(value: object, decimal: str) -> str | None:
    """A cell as the text a CSV export would hold."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value).replace(".", decimal)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date | clock):
        return value.isoformat()
    return str(value)


def _select_records(
    con: duckdb.DuckDBPyConnection, id_col: str, submitted_col: str, kept: dict[str, str], date_formats: Iterable[str]
) -> pa.Table:
    """drop_rows as RECORD_SCHEMA in one statement. Partner codes are bound values (JSON keys), never SQL
    identifiers; the column names c0, c1, ... are ours. kept: the columns that go into the record."""
    pairs = ", ".join(f"?, {column}" for column in kept)
    table = con.sql(
        f"""
        select
            row_number() over ()::bigint as ordinal,
            trim({id_col}) as source_id,
            coalesce(
                strftime(try_strptime(trim({submitted_col}), ?::varchar[]), '%Y-%m-%dT%H:%M:%S'),
                trim({submitted_col})
            ) as submitted_at,
            json_object({pairs})::varchar as record
        from drop_rows
        where coalesce({", ".join([id_col, *kept])}) is not null
        """,
        params=[list(date_formats), *kept.values()],
    ).to_arrow_table()
    return table.cast(RECORD_SCHEMA)
