"""CSV and XLSX file drops: a partner puts export files into its drop folder; each file is loaded once, then archived.

Pages of a file: request "file:<name>" (with "rows <first>-<last>" when the file has more than `rows_per_page`
rows, 1000 by default), body the file's bytes, records one per data row. Decisions:

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
  cursor ("all responses") reads the archive too, so forgetting a partner's cursor reloads everything. A file
  of many pages loads batch by batch like any pull, so its size does not set the run's memory; only its last
  page moves the cursor and archives it, so a run stopped within it reads the file again and the rows loaded
  before count as unchanged.
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

from pipeline.extract.files.drop_folder import REJECTED, FilesConnector, rejected_files
from pipeline.extract.files.settings import FilesSettings

__all__ = ["REJECTED", "FilesConnector", "FilesSettings", "rejected_files"]
