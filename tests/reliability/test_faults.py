"""The real ingest through a fault-injecting proxy in front of the emulators: no record is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.context import Context
from pipeline.errors import PartnerUnreachable
from pipeline.load.ingest import ingest_partner
from pipeline.settings import Settings
from tests.conftest import partner_world, query
from tests.reliability.proxy import FAULTS, FaultProxy

# A Kobo and an ODK Central partner, read in pages of 10.
PARTNERS = {"hwg-lu": "kobo", "awo-lu": "odk"}
# Faults answer the 2nd and the 4th request of the pull (ODK: the login is the 1st).
PLAN = [None, "fault", None, "fault"]


def _through(proxy: FaultProxy, partner_id: str) -> None:
    """Point the partner's connector at the proxy in the registry the pipeline reads."""
    path = Settings().partners_file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for partner in data["partners"]:
        if partner["id"] == partner_id:
            partner["connector"]["base_url"] = proxy.url
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("partner_id", PARTNERS)
def test_a_pull_through_faults_loses_no_record(
    partner_id: str, fault: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with partner_world(settings, tmp_path, monkeypatch, partner_id, page_size=10) as world:
        service = world.services[PARTNERS[partner_id]]
        with FaultProxy(service.url) as proxy:
            _through(proxy, partner_id)
            proxy.faults.extend(fault if step else None for step in PLAN)
            reruns = 0
            while True:
                try:
                    run = ingest_partner(Context.from_environment(), partner_id, f"run-{reruns}")
                    break
                except PartnerUnreachable:
                    # a body cut short is read past the HTTP retries: the run fails, stores nothing of that page,
                    # and the next run (the flow's task retry) reads it again
                    assert fault == "truncate" and reruns < len(PLAN)
                    reruns += 1
            assert proxy.injected == [fault, fault]
    generated = world.generated[partner_id]
    assert run.status == "ok"
    kept = query(
        Settings(),
        "select count(distinct source_id) from (select source_id from staging.responses union all "
        "select source_id from ops.quarantine where reason <> '')",
    )[0][0]
    assert kept == len(generated), "records lost"
