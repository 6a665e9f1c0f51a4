"""The record path fuzzed with hypothesis: valid KoboToolbox submissions in the partner's codes with hostile
mutations planted among them, served over HTTP by the emulator (through a proxy that writes what the emulator
cannot: text that is no Unicode), pulled by the connector and loaded into a real DuckDB file.

Every record id is loaded into core, quarantined with a reason, or counted as a duplicate; every record left
valid is in core with the answers generated; the run's accounting holds. Slow tier: EXAMPLES draws of PER_EXAMPLE
submissions each (10,500 records), every draw into a fresh DuckDB file and a fresh asset.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.context import Context
from pipeline.contract.codebook import Codebook
from pipeline.load.ingest import ingest_partner
from pipeline.registry import Partner
from pipeline.settings import Settings
from pipeline_testkit import demo
from pipeline_testkit.emulators import kobo
from pipeline_testkit.emulators.synthetic import Plan, Response, responses
from tests.conftest import partner_world, query
from tests.reliability.proxy import FaultProxy
from tests.reliability.test_faults import _through

PARTNER = "hwg-lu"  # KoboToolbox, its question codes the instrument's (no recode): answers compare as generated
PER_EXAMPLE = 3_500
EXAMPLES = 3
SURROGATE = "FUZZ-LONE-SURROGATE"  # rewritten by the proxy into the JSON escape of a lone surrogate
EXTRA = "fuzz/bemerkung"  # a question no mapping names

# Text a hostile world sends: control characters, markup, SQL and JSON fragments, odd Unicode.
hostile_text = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(
        ["", " ", "\x00", "\t3", "3\x00", "[/x]", "'; drop table core.responses; --", '{"a": 1}', "\\", "9" * 30]
    ),
)
odd_text = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=60),
    st.sampled_from(["\u202eevil", "e\u0301", "\ufeff", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\x00\x01\x1f\x7f", "🏳️‍🌈", "\u2028\u2029"]),
)
hostile_time = st.one_of(
    hostile_text,
    st.sampled_from(
        [
            "9999-12-31T23:59:59",
            "2099-01-01T00:00:00",
            "not-a-date",
            "0001-01-01T00:00:00",
            "2025-02-30T10:00:00",
            "2025-10-26T02:30:00+25:00",
            "2025-06-01",
        ]
    ),
    st.datetimes().map(lambda moment: moment.isoformat()),
)


@dataclass
class Planted:
    """A draw's submissions and what the generator knows of them: the answers each valid one must show in core."""

    submissions: list[dict[str, Any]]
    expected: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    hostile: set[int] = field(default_factory=set)
    removed: dict[int, set[str]] = field(default_factory=dict)


# A mutation changes submission i (its mapped question `code`, drawn value `value`) and says whether the
# submission stays valid: the same answers, but for the items it removes (recorded in planted.removed).
Mutation = Callable[[Planted, int, str, Any], bool]


def _wrong_code(planted: Planted, i: int, code: str, value: Any) -> bool:
    planted.submissions[i][code] = value
    return False


def _emptied(planted: Planted, i: int, code: str, value: Any) -> bool:
    planted.submissions[i][code] = random.Random(i).choice(["", " ", "   "])
    planted.removed.setdefault(i, set()).add(code)
    return True


def _missing_key(planted: Planted, i: int, code: str, value: Any) -> bool:
    del planted.submissions[i][code]
    planted.removed.setdefault(i, set()).add(code)
    return True


def _number(planted: Planted, i: int, code: str, value: Any) -> bool:
    """A code sent as a JSON number ("3" as 3): the same answer."""
    if isinstance(planted.submissions[i][code], str) and planted.submissions[i][code].isdigit():
        planted.submissions[i][code] = int(planted.submissions[i][code])
    return True


def _huge_text(planted: Planted, i: int, code: str, value: Any) -> bool:
    planted.submissions[i][code] = "Ü" * 20_001
    return False


def _extra_keys(planted: Planted, i: int, code: str, value: Any) -> bool:
    planted.submissions[i].update({EXTRA: value, "fuzz/verschachtelt": {"a": [1, {"b": None}], "c": value}})
    return True


def _nested_junk(planted: Planted, i: int, code: str, value: Any) -> bool:
    planted.submissions[i][code] = {"a": [value, {"b": None}]}
    return False


def _odd_time(planted: Planted, i: int, code: str, value: Any) -> bool:
    planted.submissions[i]["_submission_time"] = value
    return False


def _missing_time(planted: Planted, i: int, code: str, value: Any) -> bool:
    planted.submissions[i].pop("_submission_time", None)
    return False


def _duplicate_id(planted: Planted, i: int, code: str, value: Any) -> bool:
    """The previous submission's _id again (next to it in `_id` order): both copies are hostile."""
    if i == 0:
        return True
    planted.submissions[i]["_id"] = planted.submissions[i - 1]["_id"]
    planted.hostile.add(i - 1)
    return False


def _lone_surrogate(planted: Planted, i: int, code: str, value: Any) -> bool:
    planted.submissions[i][code] = SURROGATE
    return False


MUTATIONS: dict[str, tuple[Mutation, st.SearchStrategy[Any]]] = {
    "wrong code": (_wrong_code, hostile_text),
    "empty string": (_emptied, st.none()),
    "missing key": (_missing_key, st.none()),
    "number as JSON number": (_number, st.none()),
    "huge text": (_huge_text, st.none()),
    "extra keys, odd Unicode": (_extra_keys, odd_text),
    "nested junk": (_nested_junk, hostile_text),
    "odd time": (_odd_time, hostile_time),
    "missing time": (_missing_time, st.none()),
    "duplicate id": (_duplicate_id, st.none()),
    "lone surrogate": (_lone_surrogate, st.none()),
}
# Every kind of mutation in every draw, one to three drawn values each, each value planted into SPREAD records
# (about 10 % of a draw): hypothesis draws (and shrinks) a few dozen values, not thousands.
SPREAD = 15
mutations = st.fixed_dictionaries(
    {
        name: st.lists(st.tuples(st.integers(0, 200), values), min_size=1, max_size=3)
        for name, (_, values) in MUTATIONS.items()
    }
)


def _answers(response: Response, codebook: Codebook, removed: set[str]) -> frozenset[tuple[str, str]]:
    """The (item, answer code or text) pairs core must hold for a generated response, items removed left out."""
    out = set()
    for item_code, value in response.answers.items():
        if item_code in removed:
            continue
        item = codebook.item_by_code[item_code]
        out |= {(item_code, option) for option in value.split()} if item.type == "multi" else {(item_code, value)}
    return frozenset(out)


def _planted(
    partner: Partner, codebook: Codebook, generated: list[Response], drawn: dict[str, list[tuple[int, Any]]], seed: int
) -> Planted:
    planted = Planted([kobo.submission(partner, codebook, r) for r in generated])
    where = random.Random(seed)
    for name, values in sorted(drawn.items()):
        for pick, value in values:
            for i in where.sample(range(len(generated)), SPREAD):
                codes = [code for code in planted.submissions[i] if code in partner.mapping]
                if codes and not MUTATIONS[name][0](planted, i, codes[pick % len(codes)], value):
                    planted.hostile.add(i)
    for i, response in enumerate(generated):
        if i not in planted.hostile:
            planted.expected[str(response.id)] = _answers(response, codebook, planted.removed.get(i, set()))
    return planted


@pytest.fixture
def fuzz_world(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[demo.Demo, Path]]:
    """The Kobo partner alone, pulled through a proxy that turns SURROGATE into a lone surrogate's escape."""
    with (
        partner_world(settings, tmp_path, monkeypatch, PARTNER) as world,
        FaultProxy(world.services["kobo"].url) as proxy,
    ):
        proxy.rewrites[json.dumps(SURROGATE).encode()] = b'"\\ud800"'
        _through(proxy, PARTNER)
        yield world, tmp_path


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
@given(seed=st.integers(0, 2**32 - 1), drawn=mutations)
def test_every_fuzzed_record_is_loaded_or_quarantined_and_no_valid_one_is_quarantined(
    fuzz_world: tuple[demo.Demo, Path], seed: int, drawn: dict[str, list[tuple[int, Any]]]
) -> None:
    world, tmp_path = fuzz_world
    partner, codebook = world.registry.partner(PARTNER), world.codebook
    wave = world.registry.waves[seed % len(world.registry.waves)]
    generated = responses(codebook, Plan(partner, wave, PER_EXAMPLE, 1_000_000), seed, demo.GENERATED_AT)
    planted = _planted(partner, codebook, generated, drawn, seed)
    emulator: kobo.KoboEmulator = world.services["kobo"].emulator  # type: ignore[assignment]
    emulator.add_asset(partner.connector.asset_uid, world.env[partner.secret_env], planted.submissions)
    here = Settings(data_dir=tmp_path / f"draw-{seed}", partners_file=Settings().partners_file)

    run = ingest_partner(Context(here), PARTNER, f"fuzz-{seed}")

    assert run.status == "ok", run.error
    assert run.fetched == run.inserted + run.updated + run.unchanged + run.quarantined + run.duplicates
    ids = {str(s["_id"]) for s in planted.submissions}
    loaded = _loaded(here)
    reasons = dict(query(here, "select source_id, min(length(trim(reason))) from ops.quarantine group by all"))
    # a duplicated id: its last listing is loaded or quarantined, the earlier ones count as duplicates
    lost = {sid for sid in ids if sid not in loaded and not reasons.get(sid)}
    assert not lost, f"records neither loaded nor quarantined with a reason: {sorted(lost)[:10]}"
    wrongly = {sid for sid, answers in planted.expected.items() if loaded.get(sid) != answers}
    assert not wrongly, {sid: (sid in reasons, loaded.get(sid), planted.expected[sid]) for sid in sorted(wrongly)[:3]}


def _loaded(here: Settings) -> dict[str, frozenset[tuple[str, str]]]:
    """Source id → the (item, answer code or text) pairs core holds for it."""
    rows = query(
        here,
        """
        select
            r.source_id,
            list([a.item_code, coalesce(a.answer_code, a.answer_text)]) filter (where a.item_code is not null)
        from core.responses c
        join raw.records r using (record_id)
        left join core.answers a using (respondent_key)
        group by r.source_id
        """,
    )
    return {sid: frozenset(tuple(pair) for pair in pairs) for sid, pairs in rows}
