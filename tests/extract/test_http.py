"""The connectors' HTTP (extract/http.py) against servers on 127.0.0.1: waits capped, requests and partners
bounded in time, a partner that cannot be connected to named at once."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import errors
from pipeline.extract import Connector
from pipeline.registry import Registry
from pipeline.settings import Settings
from pipeline_testkit import demo
from tests.conftest import partner_world
from tests.reliability.proxy import LONG_WAIT, FaultProxy

KOBO = "hwg-lu"
# one partner of each kind the demo has; the file drop ("staatsphilharmonie-lu") asks no server
HTTP_PARTNERS = {"hwg-lu": "kobo", "awo-lu": "odk", "stadt-bildung-lu": "limesurvey", "hwg-lu-fb4": "sosci"}


@pytest.fixture
def kobo(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[demo.Demo]:
    with partner_world(settings, tmp_path, monkeypatch, KOBO) as world:
        yield world


def _open(world: demo.Demo, partner_id: str, settings: Settings, base_url: str, **until: float) -> Connector:
    partner = world.registry.partner(partner_id)
    config = partner.connector.model_copy(update={"base_url": base_url})
    return config.open(partner.id, os.environ[partner.secret_env], settings, partner.identifier_fields, **until)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_retry_after_beyond_the_cap_is_waited_only_the_cap(kobo: demo.Demo, tmp_path: Path) -> None:
    """A server asked for 121 s once, while the run held the writer lock; now it gets at most the cap."""
    settings = Settings(data_dir=tmp_path / "capped", http_retry_after_max_seconds=2)
    with FaultProxy(kobo.services["kobo"].url) as proxy:
        proxy.faults.append("503-long-wait")
        started = time.monotonic()
        pages = list(_open(kobo, KOBO, settings, proxy.url).pull(None))
        waited = time.monotonic() - started
    assert sum(p.records.num_rows for p in pages) == len(kobo.generated[KOBO])
    assert proxy.injected == ["503-long-wait"]
    assert 2 <= waited < 20 < LONG_WAIT


def test_a_trickling_server_fails_the_request_at_its_deadline(kobo: demo.Demo, tmp_path: Path) -> None:
    """A byte every half second never trips the socket timeout: the request's deadline ends it."""
    settings = Settings(data_dir=tmp_path / "bounded", http_request_deadline_seconds=3)
    with FaultProxy(kobo.services["kobo"].url) as proxy:
        proxy.faults.append("trickle")
        started = time.monotonic()
        with pytest.raises(errors.PartnerUnreachable) as excinfo:
            list(_open(kobo, KOBO, settings, proxy.url).pull(None))
        took = time.monotonic() - started
    said = str(excinfo.value)
    assert said.startswith(f"partner {KOBO}: GET {proxy.url}/api/v2/assets/"), said
    assert "answered too slowly" in said and "(http_request_deadline_seconds = 3)" in said, said
    assert took < 20  # unfixed, it read on until the proxy gave up a minute later


@pytest.mark.parametrize("host", ["127.0.0.1:{closed}", "nonexistent.invalid"])
def test_no_connection_fails_at_once_naming_partner_url_and_what_to_check(
    kobo: demo.Demo, tmp_path: Path, host: str
) -> None:
    """A port nobody listens on, a host name nobody knows: retrying does not mend either (it took 15 s of backoff
    here, minutes with the flow's task retries), so the pull fails at once and is not retried as transient."""
    base_url = "http://" + host.format(closed=_closed_port())
    started = time.monotonic()
    with pytest.raises(errors.PartnerError) as excinfo:
        list(_open(kobo, KOBO, Settings(data_dir=tmp_path / "default"), base_url).pull(None))
    assert time.monotonic() - started < 5
    assert isinstance(excinfo.value, errors.PartnerNotConnected)
    assert not isinstance(excinfo.value, errors.PartnerUnreachable)
    said = str(excinfo.value)
    assert said.startswith(f"partner {KOBO}: GET {base_url}/api/v2/assets/"), said
    assert said.endswith("check that connector.base_url is right and that the server is up"), said
    hostname = base_url.removeprefix("http://")
    assert ("connection refused" if ":" in hostname else f"the host name {hostname} is not known") in said


class _FlakyNameServer:
    """The resolver as a night with a DNS hiccup shows it: `host` fails with EAI_AGAIN (no name server answered)
    `failures` times, then resolves to 127.0.0.1; every other name resolves as usual."""

    def __init__(self, host: str, failures: int) -> None:
        self.host, self.failures, self.asked = host, failures, 0
        self._resolve = socket.getaddrinfo

    def __call__(self, host: str, port: object, *args: object, **kwargs: object) -> list:
        if host != self.host:
            return self._resolve(host, port, *args, **kwargs)
        self.asked += 1
        if self.asked <= self.failures:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return self._resolve("127.0.0.1", port, *args, **kwargs)


def test_a_name_server_that_does_not_answer_for_now_is_asked_again(
    kobo: demo.Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unlike a host name nobody knows, a temporary DNS failure is retried, and the night's pull loads everything;
    one that lasts past the retries fails as unreachable (so the flow's task retries it), naming the host."""
    port = kobo.services["kobo"].url.rsplit(":", 1)[1]
    base_url = f"http://partner.flaky.test:{port}"
    settings = Settings(data_dir=tmp_path / "dns", http_retries=3)
    flaky = _FlakyNameServer("partner.flaky.test", failures=2)
    monkeypatch.setattr(socket, "getaddrinfo", flaky)
    pages = list(_open(kobo, KOBO, settings, base_url).pull(None))
    assert sum(p.records.num_rows for p in pages) == len(kobo.generated[KOBO])
    assert flaky.asked >= 3

    monkeypatch.setattr(socket, "getaddrinfo", _FlakyNameServer("partner.flaky.test", failures=100))
    with pytest.raises(errors.PartnerUnreachable) as excinfo:
        list(_open(kobo, KOBO, settings, base_url).pull(None))
    said = str(excinfo.value)
    assert said.startswith(f"partner {KOBO}: GET {base_url}/api/v2/assets/"), said
    assert said.endswith("no name server answered for partner.flaky.test (a temporary DNS failure)"), said


@pytest.mark.parametrize("partner_id", HTTP_PARTNERS)
def test_a_partner_out_of_time_is_asked_nothing(
    partner_id: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        partner_world(settings, tmp_path, monkeypatch, partner_id) as world,
        FaultProxy(world.services[HTTP_PARTNERS[partner_id]].url) as proxy,
    ):
        connector = _open(world, partner_id, Settings(), proxy.url, until=time.monotonic() - 1)
        with pytest.raises(errors.PartnerOutOfTime) as excinfo:
            list(connector.pull(None))
        assert proxy.requests == 0
    assert not isinstance(excinfo.value, errors.PartnerUnreachable)
    said = str(excinfo.value)
    assert said.startswith(f"partner {partner_id}: ") and proxy.url in said, said
    assert "not sent: the partner's time in this run is used up (partner_budget_seconds = " in said, said


def test_a_retry_wait_that_ends_past_the_partners_deadline_is_not_waited(kobo: demo.Demo) -> None:
    with FaultProxy(kobo.services["kobo"].url) as proxy:
        proxy.faults.append("503-long-wait")  # 121 s asked, capped to 30 s: more than the 10 s left
        started = time.monotonic()
        connector = _open(kobo, KOBO, Settings(), proxy.url, until=started + 10)
        with pytest.raises(errors.PartnerOutOfTime, match=rf"^partner {KOBO}: GET {proxy.url}/api/v2/assets/"):
            list(connector.pull(None))
        assert time.monotonic() - started < 5
        assert proxy.requests == 1


def test_a_file_drop_takes_a_deadline_and_ignores_it(demo_registry: Registry, tmp_path: Path) -> None:
    """Reading a folder takes moments: the partner's deadline is for servers."""
    partner = demo_registry.partner("staatsphilharmonie-lu")
    config = partner.connector.model_copy(update={"folder": tmp_path})
    connector = config.open(partner.id, "", Settings(), partner.identifier_fields, until=time.monotonic() - 1)
    assert [p.records.num_rows for p in connector.pull(None)] == []
