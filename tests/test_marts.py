"""The marts against figures computed here, in plain Python, from the responses the demo generated.

One demo world per module: the partners' responses are ingested through the real path (emulators over
127.0.0.1, connectors, contract, load), plus free texts with contact details sent through the Kobo emulator
and a small planted group written straight into core (an organisation type whose only answers to an item are
"weiß nicht" and "keine Angabe", and blank free texts). The expected figures never read the mart SQL.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

import duckdb
import pytest

from pipeline.context import Context
from pipeline.contract.codebook import Codebook, Item
from pipeline.load.ingest import ingest_partner
from pipeline.settings import Settings
from pipeline.transform.marts import build_marts
from pipeline_testkit import demo
from pipeline_testkit.emulators import kobo
from pipeline_testkit.emulators.synthetic import Response

MARGIN = "insgesamt"
SCALE_VALUES = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5}
# Free texts sent by a Kobo partner, and what the analysts' copy must hold instead.
PLANTED_TEXTS = {
    "Rückfragen gern an erika.beispiel@verein-lu.de oder 0621 504-1234.": (
        "Rückfragen gern an [E-Mail entfernt] oder [Telefon entfernt]."
    ),
    "Mobil +49 621 5041234, Infos unter https://www.verein-lu.de/kontakt?id=7.": (
        "Mobil [Telefon entfernt], Infos unter [URL entfernt]."
    ),
    "Büro (0621) 50412, Angebote auf www.integration-lu.de/angebote": (
        "Büro [Telefon entfernt], Angebote auf [URL entfernt]"
    ),
    "Termin am 01.07.2026 in 67059 Ludwigshafen, 3 Personen, seit 2025.": (
        "Termin am 01.07.2026 in 67059 Ludwigshafen, 3 Personen, seit 2025."
    ),
    "": "",
}
PERSONAL = ("erika.beispiel", "verein-lu.de", "integration-lu", "504-1234", "5041234", "50412", "http", "www.")
KOBO_PARTNER, TEXT_ITEM = "caritas-lu", "HF2_08"
# The planted group: an organisation type without a demo partner, in the second wave.
PLANTED_ORG, PLANTED_WAVE, PLANTED_ITEM, PLANTED_TEXT_ITEM = "migrantenorg", "2026", "HF1_01", "HF7_05"
PLANTED_CODES = ("wn", "ka", "wn")


@dataclass(frozen=True)
class Answer:
    """One answer in instrument codes, as the steering group's figures see it."""

    wave: str
    org_type: str
    respondent: str
    item: str
    answer: str


@dataclass
class Built:
    world: demo.Demo
    settings: Settings
    answers: list[Answer]

    def mart(self, sql: str) -> list[tuple]:
        con = duckdb.connect(str(self.settings.db_path), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("marts") / "data")
    with demo.running(settings) as world, pytest.MonkeyPatch.context() as env:
        for name, value in world.env.items():
            env.setenv(name, value)
        run_settings = Settings()
        sent = _send_free_texts(world)
        for partner in world.registry.partners:
            ingest_partner(Context(run_settings), partner.id, uuid.uuid4().hex)
        _plant_group(run_settings)
        build_marts(Context(run_settings))
        yield Built(world, run_settings, _truth(world, sent) + _planted_truth())


def _send_free_texts(world: demo.Demo) -> list[Response]:
    """New Kobo responses, copies of valid generated ones with a free text carrying contact details."""
    partner = world.registry.partner(KOBO_PARTNER)
    valid = [r for r in world.generated[KOBO_PARTNER] if not r.invalid]
    sent = [
        replace(source, id=90_000 + i, answers={**source.answers, TEXT_ITEM: text})
        for i, (source, text) in enumerate(zip(valid, PLANTED_TEXTS, strict=False))
    ]
    world.services["kobo"].emulator.add_submissions(
        partner.connector.asset_uid, [kobo.submission(partner, world.codebook, r) for r in sent]
    )
    return sent


def _plant_group(settings: Settings) -> None:
    con = duckdb.connect(str(settings.db_path))
    try:
        for i, code in enumerate(PLANTED_CODES):
            key = f"planted-{i}"
            con.execute(
                "insert into core.responses values (?, 'planted', ?, ?, '2026.1', ?, ?, now(), now())",
                [key, PLANTED_ORG, PLANTED_WAVE, datetime(2026, 4, 1), key],
            )
            con.execute(
                "insert into core.answers values (?, ?, ?, null, null, ?, ?, core.record_key(?))",
                [key, PLANTED_ITEM, code, PLANTED_WAVE, PLANTED_ORG, key],
            )
            con.execute(
                "insert into core.answers values (?, ?, null, null, ?, ?, ?, core.record_key(?))",
                [key, PLANTED_TEXT_ITEM, ["", " ", "\n"][i], PLANTED_WAVE, PLANTED_ORG, key],
            )
    finally:
        con.close()


def _truth(world: demo.Demo, sent: list[Response]) -> list[Answer]:
    """Every answer of every valid generated (or sent) response; blank free texts are no answer."""
    out = []
    for partner in world.registry.partners:
        responses = world.generated[partner.id] + (sent if partner.id == KOBO_PARTNER else [])
        for response in responses:
            if response.invalid:
                continue
            for item, answer in response.answers.items():
                if answer.strip():
                    out.append(Answer(response.wave, partner.org_type, f"{partner.id}:{response.id}", item, answer))
    return out


def _planted_truth() -> list[Answer]:
    return [
        Answer(PLANTED_WAVE, PLANTED_ORG, f"planted-{i}", PLANTED_ITEM, code) for i, code in enumerate(PLANTED_CODES)
    ]


def _margin(org_type: str) -> tuple[str, str]:
    """An answer counts for its organisation type and for the margin over all of them."""
    return org_type, MARGIN


def _codes(answer: Answer, codebook: Codebook) -> list[str]:
    item = codebook.item_by_code[answer.item]
    return sorted(set(answer.answer.split())) if item.type == "multi" else [answer.answer]


def _previous(world: demo.Demo) -> dict[str, str | None]:
    ordered = [w.code for w in sorted(world.registry.waves, key=lambda w: (w.opens, w.code))]
    return dict(zip(ordered, [None, *ordered[:-1]], strict=True))


def _grid(built: Built, keys_of: Callable[[str, Item], list[tuple]]) -> set[tuple]:
    """Every group a mart has a row for, answered or not: `keys_of(wave, item)` names an item's groups for
    every organisation type with responses in the wave and the margin."""
    types = {(a.wave, o) for a in built.answers for o in _margin(a.org_type)}
    codebook, codes_in = built.world.codebook, _codes_in(built.world)
    return {
        (wave, org_type, *key)
        for wave, org_type in types
        for code in codes_in[wave]
        if codebook.item_by_code[code].type != "text"
        for key in keys_of(wave, codebook.item_by_code[code])
    }


def _codes_in(world: demo.Demo) -> dict[str, set[str]]:
    """Wave → the item codes of its instrument version."""
    return {w.code: {i.code for i in world.codebook.items_in(w.instrument_version)} for w in world.registry.waves}


@dataclass
class Scores:
    respondents: set[str]
    values: list[int]

    @property
    def figures(self) -> tuple[int, int, float, int, float | None, float | None]:
        n_valid = len(self.values)
        top2 = sum(v >= 4 for v in self.values)
        mean = sum(self.values) / n_valid if n_valid else None
        return (
            len(self.respondents),
            n_valid,
            float(sum(self.values)),
            top2,
            mean,
            top2 / n_valid if n_valid else None,
        )


def _scores(
    keys_of: Callable[[Answer, Item], list[tuple]], answers: list[Answer], codebook: Codebook
) -> dict[tuple, Scores]:
    """Respondents and scale values per group; keys_of names the groups an answer counts in."""
    groups: dict[tuple, Scores] = defaultdict(lambda: Scores(set(), []))
    for answer in answers:
        item = codebook.item_by_code[answer.item]
        for key in keys_of(answer, item):
            groups[key].respondents.add(answer.respondent)
            if item.type == "scale" and answer.answer in SCALE_VALUES:
                groups[key].values.append(SCALE_VALUES[answer.answer])
    return dict(groups)


def _change(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else now - before


def _assert_rows(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key, figures in expected.items():
        assert got[key] == pytest.approx(figures), key


def test_item_distribution_counts_every_answer_code_with_zeros_and_margin(built: Built) -> None:
    codebook = built.world.codebook
    counts: Counter = Counter()
    for a in built.answers:
        if codebook.item_by_code[a.item].type != "text":
            for org_type in _margin(a.org_type):
                counts.update((a.wave, org_type, a.item, code) for code in _codes(a, codebook))
    groups = _grid(built, lambda wave, item: [(item.code,)])
    expected = {
        (wave, org_type, item, option.code): counts.get((wave, org_type, item, option.code), 0)
        for wave, org_type, item in groups
        for option in codebook.options_of(codebook.item_by_code[item])
    }

    rows = built.mart("select wave, org_type, item_code, answer_code, n, answer_value from marts.item_distribution")

    assert {(w, o, i, c): n for w, o, i, c, n, _ in rows} == expected
    values = {c: v for *_, c, _, v in rows}
    assert values["wn"] is None and values["ka"] is None and values["ja"] is None and values["3"] == 3


def test_item_results_match_figures_computed_from_the_responses(built: Built) -> None:
    world, codebook = built.world, built.world.codebook
    scores = _scores(
        lambda a, item: [] if item.type == "text" else [(a.wave, o, a.item) for o in _margin(a.org_type)],
        built.answers,
        codebook,
    )
    previous, codes_in = _previous(world), _codes_in(world)
    groups = _grid(built, lambda wave, item: [(item.code,)])
    nobody = Scores(set(), [])  # a group nobody answered: 0 and no mean
    expected = {}
    for wave, org_type, item in groups:
        before = previous[wave] if previous[wave] and item in codes_in[previous[wave]] else None
        n_answered, n_valid, value_sum, n_top2, mean, top2 = scores.get((wave, org_type, item), nobody).figures
        earlier = scores[(before, org_type, item)].figures if (before, org_type, item) in scores else None
        expected[(wave, org_type, item)] = (
            n_answered,
            n_valid,
            value_sum,
            n_top2,
            mean,
            top2,
            before,
            _change(mean, earlier[4]) if earlier else None,
            _change(top2, earlier[5]) if earlier else None,
        )

    rows = built.mart(
        "select wave, org_type, item_code, n_answered, n_valid, value_sum, n_top2, mean, top2_share, previous_wave, "
        "mean_change, top2_change from marts.item_results"
    )

    _assert_rows({tuple(r[:3]): tuple(r[3:]) for r in rows}, expected)
    changed = [r for r in rows if r[10] is not None]
    assert changed and all(r[2] in codes_in[r[9]] and r[2] in codes_in[r[0]] for r in changed)


def test_weiss_nicht_and_keine_angabe_are_answers_but_never_enter_a_mean(built: Built) -> None:
    [row] = built.mart(
        "select n_answered, n_valid, value_sum, n_top2, mean, top2_share, mean_change from marts.item_results "
        f"where wave = '{PLANTED_WAVE}' and org_type = '{PLANTED_ORG}' and item_code = '{PLANTED_ITEM}'"
    )
    assert row == (3, 0, 0.0, 0, None, None, None)
    counts = built.mart(
        "select answer_code, n from marts.item_distribution "
        f"where wave = '{PLANTED_WAVE}' and org_type = '{PLANTED_ORG}' and item_code = '{PLANTED_ITEM}'"
    )
    assert dict(counts) == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0, "wn": 2, "ka": 1}


def test_special_category_items_are_in_the_item_marts_without_a_field(built: Built) -> None:
    special = {i.code for i in built.world.codebook.items if i.special_category}
    rows = built.mart("select distinct item_code, field_code, special_category from marts.item_results")
    in_marts = {code: (field, flag) for code, field, flag in rows if code in special}
    assert in_marts == dict.fromkeys(special, (None, True))
    distribution = built.mart("select distinct item_code, field_code from marts.item_distribution")
    assert {code: field for code, field in distribution if code in special} == dict.fromkeys(special)


def test_margin_is_the_sum_over_organisation_types(built: Built) -> None:
    for mart, keys, counts in (
        ("item_distribution", ["wave", "item_code", "answer_code"], ["n"]),
        ("item_results", ["wave", "item_code"], ["n_answered", "n_valid", "value_sum", "n_top2"]),
        ("field_results", ["wave", "level", "field_code", "theme_code"], ["n_respondents", "n_valid", "n_top2"]),
        ("free_text_counts", ["wave", "field_code"], ["n_texts"]),
    ):
        sums = [
            f"sum({c}) filter (where org_type <> '{MARGIN}') = sum({c}) filter (where org_type = '{MARGIN}')"
            for c in counts
        ]
        rows = built.mart(f"select {', '.join(keys + sums)} from marts.{mart} group by all")
        assert rows and all(all(row[len(keys) :]) for row in rows), mart
    labels = built.mart(f"select distinct org_type_label from marts.item_results where org_type = '{MARGIN}'")
    assert labels == [("Insgesamt",)]


def test_field_results_match_figures_computed_from_the_responses(built: Built) -> None:
    world, codebook = built.world, built.world.codebook

    def keys_of(a: Answer, item: Item) -> list[tuple]:
        if item.type == "text" or item.field is None:
            return []
        levels = [("handlungsfeld", item.field, None)] + ([("thema", item.field, item.theme)] if item.theme else [])
        return [(level, a.wave, o, f, t) for level, f, t in levels for o in _margin(a.org_type)]

    scores = _scores(keys_of, built.answers, codebook)
    previous = _previous(world)

    def levels_of(wave: str, item: Item) -> list[tuple]:
        if item.field is None:
            return []
        return [("handlungsfeld", item.field, None)] + ([("thema", item.field, item.theme)] if item.theme else [])

    nobody = Scores(set(), [])
    expected = {}
    for wave, org_type, level, field, theme in _grid(built, levels_of):
        before = previous[wave]
        earlier = scores.get((level, before, org_type, field, theme))
        now = scores.get((level, wave, org_type, field, theme), nobody).figures
        expected[(level, wave, org_type, field, theme)] = (
            *now,
            before,
            _change(now[4], earlier.figures[4]) if earlier else None,
            _change(now[5], earlier.figures[5]) if earlier else None,
        )

    rows = built.mart(
        "select level, wave, org_type, field_code, theme_code, n_respondents, n_valid, value_sum, n_top2, mean, "
        "top2_share, previous_wave, mean_change, top2_change from marts.field_results"
    )

    _assert_rows({tuple(r[:5]): tuple(r[5:]) for r in rows}, expected)
    assert {r[3] for r in rows} == {f.code for f in codebook.fields}, "special categories have no field"
    themes = {(r[3], r[4]) for r in rows if r[0] == "thema"}
    assert themes == {(f.code, t.code) for f in codebook.fields for t in f.themes}


def test_free_text_counts_count_respondents_with_a_non_empty_text(built: Built) -> None:
    world, codebook = built.world, built.world.codebook
    writers: dict[tuple, set[str]] = defaultdict(set)
    groups = {(a.wave, o) for a in built.answers for o in _margin(a.org_type)}
    groups |= {(PLANTED_WAVE, PLANTED_ORG), (PLANTED_WAVE, MARGIN)}  # answered, if only blank texts
    for a in built.answers:
        item = codebook.item_by_code[a.item]
        if item.type == "text":
            for org_type in _margin(a.org_type):
                writers[(a.wave, org_type, item.field)].add(a.respondent)
    text_fields = {
        w.code: {i.field for i in codebook.items_in(w.instrument_version) if i.type == "text"}
        for w in world.registry.waves
    }
    expected = {
        (wave, org_type, field): len(writers.get((wave, org_type, field), ()))
        for wave, org_type in groups
        for field in text_fields[wave]
    }

    rows = built.mart("select wave, org_type, field_code, n_texts from marts.free_text_counts")

    assert {tuple(r[:3]): r[3] for r in rows} == expected
    assert expected[(PLANTED_WAVE, PLANTED_ORG, codebook.item_by_code[PLANTED_TEXT_ITEM].field)] == 0


def test_free_texts_hold_every_text_without_contact_details(built: Built) -> None:
    codebook = built.world.codebook
    expected = Counter(
        (a.wave, a.org_type, codebook.item_by_code[a.item].field, a.item, PLANTED_TEXTS.get(a.answer, a.answer))
        for a in built.answers
        if codebook.item_by_code[a.item].type == "text"
    )

    rows = built.mart("select wave, org_type, field_code, item_code, answer_text from marts.free_texts")

    assert Counter(rows) == expected
    texts = [r[4] for r in rows]
    assert all(marker in " ".join(texts) for marker in ("[E-Mail entfernt]", "[Telefon entfernt]", "[URL entfernt]"))
    assert not [t for t in texts for needle in PERSONAL if needle in t]
    sent = built.mart(
        f"select count(*) from core.answers where item_code = '{TEXT_ITEM}' and answer_text like '%verein-lu.de%'"
    )
    assert sent == [(2,)], "the contact details did reach core through the Kobo path"
