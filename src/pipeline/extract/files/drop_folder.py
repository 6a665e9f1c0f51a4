"""The drop folder: which files to read and when, each read once, then archived, or moved aside with its reason."""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.errors import PartnerError, PartnerUnreachable, PayloadError
from pipeline.extract import RECORD_SCHEMA, FormLabels, Page, json_records
from pipeline.extract.files.csv_file import csv_rows, decode
from pipeline.extract.files.records import partner_codes, select_records
from pipeline.extract.files.settings import FilesSettings
from pipeline.extract.files.xlsx_file import xlsx_rows
from pipeline.extract.json_records import is_identifier

log = logging.getLogger("pipeline.extract.files")

UNFINISHED_SUFFIXES = (".part", ".crdownload", ".tmp")
REJECTED = "rejected"  # beside the files: those that could not be read, each with its reason
REASON_SUFFIX = ".reason.txt"


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
        # Pages yielded but not yet loaded: request → (path, sha256) of the file its loading completes, or None.
        self._pending: dict[str, tuple[Path, str] | None] = {}

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """The pages of each new file, oldest first; the cursor of a file's last page lists the hashes loaded with it.

        Without a cursor the pull reads the archive too: all files ever loaded, then the new ones.
        """
        hashes = self._hashes(cursor)
        stored, seen = set(hashes), set(hashes)
        duck = json_records.scratch()
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
                    yield from self._pages(entry, digest, body, records, json.dumps(hashes))
        finally:
            duck.close()

    def _pages(self, entry: Path, digest: str, body: bytes, records: Iterator[pa.Table], cursor: str) -> Iterator[Page]:
        """A file's rows in pages of rows_per_page, each with the file's bytes; an empty file is one empty page.
        Only the last moves the cursor and archives the file once loaded: a pull stopped within a file reads it
        again, and the rows loaded before count as unchanged. A page is known to be the last when the next one
        does not come."""
        label = f"file:{self._label(entry)}"
        first = 1
        rows = next(records, RECORD_SCHEMA.empty_table())
        for following in itertools.chain(records, [None]):
            last = following is None
            single = last and first == 1
            request = label if single else f"{label} rows {first}-{first + rows.num_rows - 1}"
            self._pending[request] = (entry, digest) if last else None
            yield Page(request, body, rows, cursor if last else None)
            if following is not None:
                first += rows.num_rows
                rows = following

    def form_labels(self) -> FormLabels:
        """A file drop has no form to read: the folder readable is all there is to prove; no labels."""
        waiting = self._ready_files(with_archive=False)
        return FormLabels(f"drop folder {self.config.folder} with {len(waiting)} files waiting")

    def loaded(self, pages: list[Page]) -> None:
        """Move the files of committed pages to the archive: their hashes are in the stored cursor already."""
        for page in pages:
            done = self._pending.pop(page.request)
            if done is not None:
                self._archive(*done)

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

    def _records(self, con: duckdb.DuckDBPyConnection, name: str, body: bytes, scratch: Path) -> Iterator[pa.Table]:
        """The file's rows as RECORD_SCHEMA, page by page (select_records), read into the temp table drop_rows
        (columns c0, c1, ...) first."""
        if name.lower().endswith((".xlsx", ".xlsm")):
            header = xlsx_rows(con, self.partner_id, name, body, self.config.decimal)
        else:
            text = decode(self.partner_id, name, body, self.config.encoding)
            header = csv_rows(con, self.partner_id, name, text, self.config.delimiter, scratch)
        if header is None:
            return iter(())
        codes = partner_codes(con, header)
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
        return select_records(
            con,
            by_code[self.config.id_column],
            by_code[self.config.submitted_column],
            kept,
            self.config.date_formats,
            self.config.rows_per_page,
        )


def _stamp(info: os.stat_result) -> tuple[int, int, int]:
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
