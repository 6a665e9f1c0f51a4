"""The data contract: partner answers mapped onto instrument items and validated as a whole batch.

The pandera schema, derived from the codebook, defines a batch: one row per response, one column per item; a new
item or answer code is a change of data, not of code. It is applied in two halves, so that no batch is pivoted
into one column per item and back: pandera checks each response's own columns (id, time, wave, organisation
type) on a frame of one row per response, and the item columns' checks, read from the schema (item_rules), run
in DuckDB on the long answers (staging/check_answers). Every failing check of a row is kept; a row with any
failure goes to quarantine whole, the others load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.extensions as extensions
import pandera.pandas as pa
import pyarrow

from pipeline.contract.codebook import Codebook, Item
from pipeline.registry import ORG_TYPE, OrgTypeQuestion

META_COLUMNS = ["source_id", "submitted_at", "wave", "instrument_version", ORG_TYPE]
TEXT_MAX_LENGTH = 10_000
FAILURE_COLUMNS = ["record_id", "source_id", "field", "value", "check_name", "reason"]
# The submission time as the tool sent it: what a rejection of the time or the wave shows as the value.
SENT_AT = "submitted_as_sent"
_NO_WAVE_AFTER = pd.Timestamp("9000-01-01", tz="UTC")
# The item checks staging/check_answers runs, by pandera's name for them.
_SQL_CHECKS = frozenset({"isin", "options_among", "str_length"})
_RULES_SCHEMA = pyarrow.schema(
    [
        ("item_code", pyarrow.string()),
        ("item_type", pyarrow.string()),
        ("check_kind", pyarrow.string()),
        ("allowed", pyarrow.list_(pyarrow.string())),
        ("max_length", pyarrow.int64()),
        ("error", pyarrow.string()),
        ("recode_from", pyarrow.list_(pyarrow.string())),
        ("recode_to", pyarrow.list_(pyarrow.string())),
    ]
)

# Readable reasons for pandera's built-in checks; our own checks carry their reason as their name.
_BUILTIN_REASONS = {
    ("source_id", "not_nullable"): "the response has no id",
    ("source_id", "field_uniqueness"): "the response id occurs twice in one batch",
    ("submitted_at", "not_nullable"): "submission time missing or not a date",
    ("wave", "not_nullable"): "submitted outside every survey wave's window",
    (ORG_TYPE, "not_nullable"): "organisation type missing",
}


@extensions.register_check_method(statistics=["allowed_values"], supported_types=pd.Series)
def options_among(series: pd.Series, *, allowed_values: list[str]) -> pd.Series:
    """Multiple choice: every space-separated option ticked is one of allowed_values. Registered with pandera,
    so the schema written to schemas/contract/ names it with its options.

    The answer is returned row for row in the series' own order and index: grouped by record id instead, the
    ids come back sorted as text ("page:1, page:10, page:2"), pandera can no longer match a failure to its row
    and charges it to the whole batch."""
    options = series.reset_index(drop=True).str.split().explode()
    # an empty answer (shown, nothing ticked) explodes to one missing option: it is allowed
    ok = (options.isin(set(allowed_values)) | options.isna()).groupby(level=0).all()
    return pd.Series(ok.to_numpy(), index=series.index)


@dataclass(frozen=True)
class Checked:
    valid: pd.DataFrame
    failures: pd.DataFrame


def shape(
    meta: pd.DataFrame,
    asked: pd.DataFrame,
    waves: Sequence[tuple[str, str, datetime, datetime]],
    naive_timezone: str,
    timezone: str,
    *,
    org_type: str | OrgTypeQuestion,
) -> pd.DataFrame:
    """One row per response (index record_id): its metadata, wave and organisation type, what the schema's own
    columns check. The answers stay long in DuckDB (staging/map_answers), checked there by item_rules.

    meta has record_id, source_id, submitted_at (as sent); asked has record_id, value: the answers to the
    partner's organisation type question (empty when the partner asks none).
    """
    frame = meta.set_index("record_id")
    frame[SENT_AT] = frame["submitted_at"]
    frame["submitted_at"] = _utc(frame["submitted_at"], naive_timezone)
    frame["wave"], frame["instrument_version"] = _waves(frame["submitted_at"], waves, timezone)
    frame[ORG_TYPE] = _org_types(frame.index, asked, org_type)
    return frame


def _org_types(index: pd.Index, asked: pd.DataFrame, org_type: str | OrgTypeQuestion) -> pd.Series:
    """Each response's organisation type: the partner's own, or the answer to its question recoded. A code the
    recode does not list stays as sent, so that validation names it as the partner sent it."""
    if isinstance(org_type, str):
        return pd.Series(org_type, index=index, dtype=object)
    answers = asked.set_index("record_id")["value"].reindex(index).astype(object)
    return answers.where(answers.notna(), None).replace(org_type.recode)


def item_rules(
    batch_schema: pa.DataFrameSchema, codebook: Codebook, recode: dict[str, dict[str, str]]
) -> pyarrow.Table:
    """The schema's item checks as rows for DuckDB (staging/check_answers), with the partner's recode tables:
    the answers are checked long where they are, by the checks the pandera schema defines, never pivoted into
    a frame of one column per item."""
    tables = recode_by_item(recode, codebook)
    rows = []
    for item in codebook.items:
        [check] = batch_schema.columns[item.code].checks
        if check.name not in _SQL_CHECKS:  # a check staging/check_answers cannot run would pass every answer
            raise ValueError(f"item {item.code}: no SQL for the check {check.name!r} (staging/check_answers)")
        table = tables.get(item.code, {})
        rows.append(
            {
                "item_code": item.code,
                "item_type": item.type,
                "check_kind": check.name,
                "allowed": check.statistics.get("allowed_values"),
                "max_length": check.statistics.get("max_value"),
                "error": check.error,
                "recode_from": list(table),
                "recode_to": list(table.values()),
            }
        )
    return pyarrow.Table.from_pylist(rows, schema=_RULES_SCHEMA)


def _utc(raw: pd.Series, naive_timezone: str) -> pd.Series:
    """Parse ISO timestamps to UTC: those with an offset by it, those without in the tool's time zone (see
    _local_to_utc for the hour that exists twice and the one that does not exist). Unparseable ones become NaT."""
    text = raw.astype("string").str.strip()
    has_offset = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).fillna(False).astype(bool)
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us, UTC]")
    if has_offset.any():
        out[has_offset] = pd.to_datetime(text[has_offset], format="ISO8601", errors="coerce", utc=True)
    if (~has_offset).any():
        naive = pd.to_datetime(text[~has_offset], format="ISO8601", errors="coerce")
        out[~has_offset] = _local_to_utc(naive, naive_timezone)
    return out


def _local_to_utc(naive: pd.Series, timezone: str) -> pd.Series:
    """Wall-clock times of a zone as UTC, always one instant, as Python reads a wall-clock time with fold=0.

    Tools that send local times without a zone (LimeSurvey) cannot say which of the repeated hour at the end of
    daylight saving time they mean: it is read as the earlier instant (02:30 on 25 October 2026 in Berlin is
    00:30 UTC, still summer time). A time in the hour skipped at its start is read with the offset in force
    before the gap (02:30 on 29 March 2026 in Berlin is 01:30 UTC, shown as 03:30 summer time).
    """
    earlier = np.ones(len(naive), dtype=bool)  # pandas: True = the daylight saving instant, the earlier one
    utc = naive.dt.tz_localize(timezone, ambiguous=earlier, nonexistent="NaT").dt.tz_convert("UTC")
    skipped = naive.notna() & utc.isna()
    if skipped.any():
        # the offset in force a day before is the one before the gap (zones change offsets months apart)
        before = _local_to_utc(naive[skipped] - pd.Timedelta(days=1), timezone)
        offset = before.dt.tz_convert(timezone).dt.tz_localize(None) - before.dt.tz_localize(None)
        utc[skipped] = (naive[skipped] - offset).dt.tz_localize("UTC")
    return utc


def _waves(
    submitted: pd.Series, waves: Sequence[tuple[str, str, datetime, datetime]], timezone: str
) -> tuple[pd.Series, pd.Series]:
    """The wave whose window (dates in the city's time zone, closing day included) holds each submission. A time
    near the end of what a timestamp holds (9999-12-31) is in no wave: its conversion would overflow."""
    naive = submitted.where(submitted < _NO_WAVE_AFTER).dt.tz_convert(timezone).dt.tz_localize(None)
    inside = [(naive >= opens) & (naive <= closes) for _, _, opens, closes in waves]
    wave = np.select(inside, [w[0] for w in waves], default=None)
    version = np.select(inside, [w[1] for w in waves], default=None)
    return pd.Series(wave, index=submitted.index, dtype=object), pd.Series(version, index=submitted.index, dtype=object)


def instrument_versions(
    meta: pd.DataFrame,
    waves: Sequence[tuple[str, str, datetime, datetime]],
    naive_timezone: str,
    timezone: str,
) -> pd.DataFrame:
    """record_id and the instrument version each response was answered in (that of the wave its submission
    falls in; None when the time is unparseable or outside every wave). meta has record_id, submitted_at."""
    submitted = _utc(meta["submitted_at"].reset_index(drop=True), naive_timezone)
    _, version = _waves(submitted, waves, timezone)
    return pd.DataFrame({"record_id": meta["record_id"].to_numpy(), "instrument_version": version.to_numpy()})


def recode_by_item(recode: dict[str, dict[str, str]], codebook: Codebook) -> dict[str, dict[str, str]]:
    """A partner's recode tables (keyed by scale or by item) resolved to one table per item."""
    tables: dict[str, dict[str, str]] = {}
    for item in codebook.items:
        table = {**recode.get(item.scale_name or "", {}), **recode.get(item.code, {})}
        if table:
            tables[item.code] = table
    return tables


def schema(codebook: Codebook) -> pa.DataFrameSchema:
    """The pandera schema of a batch, derived from the codebook; its name is the schema version.

    The check that a submission is not in the future depends on the moment of validation: validate() adds it.
    """
    org_types = [o.code for o in codebook.org_types]
    columns = {
        "source_id": pa.Column(nullable=False, unique=True),
        "submitted_at": pa.Column(nullable=False),
        "wave": pa.Column(nullable=False),
        "instrument_version": pa.Column(nullable=True),
        ORG_TYPE: pa.Column(
            nullable=False, checks=pa.Check.isin(org_types, error=f"organisation type not among {' '.join(org_types)}")
        ),
    }
    columns.update({item.code: _item_column(item, codebook) for item in codebook.items})
    return pa.DataFrameSchema(columns, strict=False, name=f"{codebook.instrument.code}@{codebook.latest_version}")


def schema_file(schemas_dir: Path, codebook: Codebook) -> Path:
    """Where the schema of the codebook's latest version is kept: schemas/contract/<version>.yaml."""
    return schemas_dir / f"{codebook.latest_version}.yaml"


def schema_yaml(codebook: Codebook, codebook_name: str) -> str:
    """The batch schema as pandera writes it (loadable with DataFrameSchema.from_yaml once this module is
    imported), under a header naming the codebook file it was derived from."""
    return (
        f"# The pandera schema of a batch, derived from schemas/codebook/{codebook_name} by `pipeline schemas`:\n"
        "# regenerate it after every codebook change (a test fails while it differs). Written, never edited.\n"
        + schema(codebook).to_yaml()
    )


def validate(frame: pd.DataFrame, batch_schema: pa.DataFrameSchema, now: datetime) -> Checked:
    """Split a shaped batch into rows that pass every check and the failures of the others."""
    schema = batch_schema.update_column(
        "submitted_at", checks=pa.Check.le(pd.Timestamp(now), error="submitted in the future")
    )
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = _failures(exc.failure_cases, frame)
        return Checked(frame.drop(index=failures["record_id"].unique()), failures)
    return Checked(frame, pd.DataFrame(columns=FAILURE_COLUMNS))


def reject(checked: Checked, failures: pd.DataFrame) -> Checked:
    """checked with failures found before the schema could see them (text the partner sent that is no Unicode:
    extraction took it out of the response, so the schema would pass it): their rows leave the valid ones."""
    if failures.empty:
        return checked
    return Checked(
        checked.valid.drop(index=failures["record_id"].unique(), errors="ignore"),
        pd.concat([checked.failures, failures[FAILURE_COLUMNS]], ignore_index=True),
    )


def _item_column(item: Item, codebook: Codebook) -> pa.Column:
    if item.type == "text":
        limit = item.max_length or TEXT_MAX_LENGTH
        check = pa.Check.str_length(max_value=limit, error=f"free text longer than {limit} characters")
    else:
        codes = [o.code for o in codebook.options_of(item)]
        if item.type == "multi":
            check = pa.Check.options_among(allowed_values=codes, error=f"option not among {' '.join(codes)}")
        else:
            check = pa.Check.isin(codes, error=f"answer code not among {' '.join(codes)}")
    return pa.Column(nullable=True, required=False, checks=check)


def _failures(cases: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per failed check and response. A failure of the batch as a whole (no row index, e.g. a wrong
    column type) is charged to every response, so it is quarantined rather than lost."""
    whole = cases[cases["index"].isna()]
    if len(whole):
        everyone = whole.merge(pd.DataFrame({"row": frame.index}), how="cross").assign(index=lambda d: d["row"])
        cases = pd.concat([cases[cases["index"].notna()], everyone.drop(columns="row")], ignore_index=True)
    field = cases["column"].astype(object)
    check = cases["check"].astype(object)
    reason = [_BUILTIN_REASONS.get((f, c), c) for f, c in zip(field, check, strict=True)]
    record_id = cases["index"].astype(object)
    value = cases["failure_case"].map(lambda v: None if pd.isna(v) else str(v))
    if SENT_AT in frame:
        sent = frame[SENT_AT].reindex(record_id).map(lambda v: None if pd.isna(v) else str(v))
        of_time = field.isin(["submitted_at", "wave"]).to_numpy() & value.isna().to_numpy()
        value = value.where(~of_time, sent.to_numpy())
    return pd.DataFrame(
        {
            "record_id": record_id.to_numpy(),
            "source_id": frame["source_id"].reindex(record_id).to_numpy(),
            "field": field.to_numpy(),
            "value": value.to_numpy(),
            "check_name": check.to_numpy(),
            "reason": reason,
        }
    )


def unknown_codes(failures: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """The answer codes among the failures that their item does not allow, and the organisation types the
    codebook does not know: one row per response, item (or ORG_TYPE) and code (record_id, item_code, code). A
    multiple choice names each option not allowed, not the whole answer."""
    coded = {code: item for code, item in codebook.item_by_code.items() if item.type != "text"}
    allowed = {code: {o.code for o in codebook.options_of(item)} for code, item in coded.items()}
    allowed[ORG_TYPE] = {o.code for o in codebook.org_types}
    rows = failures[failures["field"].isin(list(allowed)) & failures["value"].notna()]
    if rows.empty:
        return pd.DataFrame(columns=["record_id", "item_code", "code"])
    multi = {code for code, item in coded.items() if item.type == "multi"}
    split = rows.assign(
        code=[v.split() if f in multi else [v] for f, v in zip(rows["field"], rows["value"], strict=True)]
    ).explode("code")
    split = split[split["code"].notna()]
    new = [c not in allowed[f] for f, c in zip(split["field"], split["code"], strict=True)]
    return (
        split.loc[new, ["record_id", "field", "code"]]
        .rename(columns={"field": "item_code"})
        .drop_duplicates()
        .reset_index(drop=True)
    )
