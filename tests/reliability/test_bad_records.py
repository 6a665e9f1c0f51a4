"""One bad record never blocks a partner: each is loaded or quarantined alone, the partner's others load."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipeline import db, demo
from pipeline.emulators.odk import OdkEmulator
from pipeline.ingest import ingest_partner
from pipeline.settings import Settings
from tests.conftest import partner_world, query

PARTNER = "awo-lu"


@pytest.fixture
def awo(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[demo.Demo]:
    with partner_world(settings, tmp_path, monkeypatch, PARTNER) as world:
        yield world


def _variant(template: dict, instance_id: str, **system: str) -> dict:
    row = copy.deepcopy(template)
    row["__id"] = instance_id
    row["meta"]["instanceID"] = instance_id
    row["__system"].update(system)
    return row


def test_hostile_records_of_odk_central_are_loaded_or_quarantined_one_by_one(awo: demo.Demo) -> None:
    served = awo.served[PARTNER]
    template = max(served, key=lambda s: s["__system"]["submissionDate"])
    umlaut = _variant(template, "Käfertal-0")
    far_future = _variant(template, "uuid:far-future", submissionDate="9999-12-31T23:59:59.000Z")
    quote = {**_variant(template, "uuid:quote"), 'frage "zitat"': "1"}
    backslash = {**_variant(template, "uuid:backslash"), "frage\\": "1"}
    config = awo.registry.partner(PARTNER).connector
    emulator: OdkEmulator = awo.services["odk"].emulator  # type: ignore[assignment]
    emulator.add_submissions(config.project_id, config.form_id, [umlaut, far_future, quote, backslash])

    run = ingest_partner(Settings(), PARTNER, "run-1")

    assert run.status == "ok", run.error
    assert run.fetched == len(served) + 4
    assert run.fetched == run.inserted + run.updated + run.unchanged + run.quarantined + run.duplicates
    reasons = dict(
        query(
            Settings(), "select source_id, string_agg(field || ': ' || reason, '; ') from ops.quarantine group by all"
        )
    )
    loaded = {sid for (sid,) in query(Settings(), "select source_id from staging.responses")}
    assert {"Käfertal-0", "uuid:quote", "uuid:backslash"} <= loaded
    assert "submitted in the future" in reasons["uuid:far-future"]
    assert run.inserted + run.quarantined == len(served) + 4


def test_the_error_that_aborts_a_transaction_is_the_one_raised(tmp_path: Path) -> None:
    """The unregistering after a failed statement raised 'Current transaction is aborted' and hid the cause."""
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    try:
        with (
            pytest.raises(duckdb.ConversionException, match="Käfertal"),
            db.transaction(con),
            db.registered(con, ids=pa.table({"id": ["Käfertal-0"]})),
        ):
            con.execute("select id::blob from ids").fetchall()
    finally:
        con.close()
