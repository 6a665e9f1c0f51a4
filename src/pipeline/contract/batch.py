"""A partner's batch checked against the contract where it lies, in DuckDB: from the stored JSON to long answers
in one statement, the item checks as SQL, pandera on the responses' own columns, the valid answers typed.

A batch is never pivoted into one column per item and back: at 60 items and 5,000 responses that round trip
(long → wide for pandera → long to load) cost more than every SQL statement of the load together.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pyarrow

from pipeline import db
from pipeline.contract import validation as contract
from pipeline.extract import json_records
from pipeline.registry import ORG_TYPE, OrgTypeQuestion, Partner, parse_target

if TYPE_CHECKING:
    import pandera.pandas as pa

    from pipeline.context import Context


@dataclass(frozen=True, eq=False)
class BatchContract:
    """What one partner's batches are checked against, made once per pull."""

    schema: pa.DataFrameSchema
    rules: pyarrow.Table
    extraction: dict[str, list]
    waves: list[tuple[str, str, datetime, datetime]]
    timezone: str
    org_type: str | OrgTypeQuestion

    @classmethod
    def for_partner(cls, ctx: Context, partner: Partner) -> BatchContract:
        return cls(
            schema=ctx.batch_schema,
            rules=contract.item_rules(ctx.batch_schema, ctx.codebook, partner.recode),
            extraction=extraction(partner.mapping, partner.asked_org_type),
            waves=list(ctx.registry.wave_windows()),
            timezone=ctx.settings.timezone,
            org_type=partner.org_type,
        )

    def check(
        self, con: duckdb.DuckDBPyConnection, sql_dir: Path, naive_timezone: str, now: datetime
    ) -> contract.Checked:
        """Map and check the new versions of batch_classified (raw/classify_batch); leaves their answers in
        the temp table batch_answers for valid_answers. Checked.valid has one row per valid response."""
        meta = con.execute(
            "select record_id, source_id, submitted_at from batch_classified where disposition = 'new'"
        ).df()
        with db.registered(con, item_rules=self.rules):
            db.run(con, sql_dir, "staging/map_answers", self.extraction)
            item_failures = db.run(con, sql_dir, "staging/check_answers").df()
        asked = con.execute("select record_id, value from batch_answers where item_code = ?", [ORG_TYPE]).df()
        frame = contract.shape(meta, asked, self.waves, naive_timezone, self.timezone, org_type=self.org_type)
        undecodable = db.run(
            con, sql_dir, "staging/undecodable_fields", {"undecodable": json_records.key_path(json_records.UNDECODABLE)}
        ).df()
        found = pd.concat([item_failures, undecodable], ignore_index=True)
        return contract.reject(contract.validate(frame, self.schema, now), found)


def valid_answers(con: duckdb.DuckDBPyConnection, sql_dir: Path, valid: pd.DataFrame) -> None:
    """The temp table valid_answers: the answers of the responses in valid (index record_id), typed as staging
    and core keep them."""
    with db.registered(con, valid_responses=pd.DataFrame({"record_id": valid.index.to_numpy()})):
        db.run(con, sql_dir, "staging/valid_answers")


def extraction(mapping: dict[str, str], asked: OrgTypeQuestion | None) -> dict[str, list]:
    """What staging/map_answers extracts of the partner's responses: each mapped question code's JSON path and
    target, and the question giving the organisation type (under ORG_TYPE) where the partner asks it; alone
    marks a code that is its item's only one (no option column), whose answer needs no combining."""
    codes = dict(mapping)
    if asked:
        codes[asked.field] = ORG_TYPE
    targets = [parse_target(text) for text in codes.values()]
    per_item = Counter(t.item for t in targets)
    return {
        "item_codes": [t.item for t in targets],
        "options": [t.option for t in targets],
        "by_text": [t.by_text for t in targets],
        "alone": [per_item[t.item] == 1 and t.option is None for t in targets],
        "json_paths": [json_records.key_path(code) for code in codes],
    }
