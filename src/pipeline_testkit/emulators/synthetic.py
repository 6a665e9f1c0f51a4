"""Deterministic synthetic responses: drawn in instrument codes, then shaped as a partner's tool holds them.

The same seed gives the same responses on every machine, so tests and benchmarks can compute the expected
figures from what was generated. Answers are drawn column by column with numpy; only the assembly of each
response is per response, as a survey tool stores them. Each emulator adds its tool's own metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from pipeline.contract.codebook import Codebook, Item
from pipeline.registry import Partner, Wave, parse_target

FREE_TEXTS = (
    "Mehr Formulare in einfacher Sprache, vor allem für Anträge.",
    "Sprechzeiten auch am Abend, damit Berufstätige kommen können.",
    "Dolmetschpool für Türkisch, Arabisch und Ukrainisch ausbauen.",
    "Schulungen zu Antirassismus für alle Führungskräfte 🙏",
    "Barrierefreie Räume – der Aufzug im Altbau fehlt seit Jahren.",
    "Bessere Zusammenarbeit mit Migrantenorganisationen in Oggersheim und Mundenheim.",
    "Übersetzte Infoblätter über Kita-Anmeldung, Schulwahl und Wohngeld.",
    "Mehrsprachige Beratung im Stadtteilbüro Hemshof 👍",
)
# what a respondent writes into a multiple choice's "other" text field
OTHER_TEXT = "Gebärdensprache"
MISSING = object()
CITY_TIMEZONE = "Europe/Berlin"  # wave windows are local dates, as in Settings.timezone


@dataclass(frozen=True)
class Plan:
    """How many responses of one partner in one wave, and how many of them carry an invalid answer."""

    partner: Partner
    wave: Wave
    n: int
    first_id: int
    invalid: int = 0


@dataclass(frozen=True)
class Response:
    """One generated respondent, in instrument codes: the truth that tests compare the pipeline's output with.

    answers maps item codes to an answer code, space-separated option codes (multiple choice) or free text;
    skipped items are absent. contact holds direct identifiers the partner's form also asks for, which the
    pipeline must never store. submitted_at is UTC without an offset. org_type is the partner's, or the one the
    respondent chose where the partner asks for it.
    """

    id: int
    submitted_at: datetime
    wave: str
    answers: dict[str, str]
    contact: dict[str, str]
    invalid: bool
    org_type: str


def responses(codebook: Codebook, plan: Plan, seed: int, now: datetime) -> list[Response]:
    """plan.n responses with ids first_id, first_id + 1, ...; the first plan.invalid ones hold an answer code
    outside the scale (to be quarantined)."""
    rng = np.random.default_rng([seed, plan.first_id])
    n = plan.n
    asked = {parse_target(text).item for text in plan.partner.mapping.values()}
    items = [item for item in codebook.items_in(plan.wave.instrument_version) if item.code in asked]
    drawn = {item.code: _draw(rng, codebook, item, n) for item in items}
    scale_items = [item.code for item in items if item.type == "scale"]
    for row in range(min(plan.invalid, n)):
        drawn[scale_items[row % len(scale_items)]][row] = "7"
    times = _times(rng, plan.wave, n, now)
    org_types = _org_types(codebook, plan, seed)
    return [
        Response(
            id=plan.first_id + i,
            submitted_at=times[i],
            wave=plan.wave.code,
            answers={code: values[i] for code, values in drawn.items() if values[i] is not MISSING},
            contact={
                "email": f"person{plan.first_id + i}@beispiel.de",
                "name": f"Erika Mustermann-{plan.first_id + i}",
            },
            invalid=i < plan.invalid,
            org_type=org_types[i],
        )
        for i in range(n)
    ]


def _org_types(codebook: Codebook, plan: Plan, seed: int) -> list[str]:
    """Each respondent's organisation type: the partner's, or one of those its question offers (drawn from a
    generator of its own, so that the answers drawn stay those of a partner with a fixed type)."""
    partner = plan.partner
    if partner.asked_org_type is None:
        return [str(partner.org_type)] * plan.n
    offered = sorted(set(partner.asked_org_type.recode.values())) or [o.code for o in codebook.org_types]
    rng = np.random.default_rng([seed, plan.first_id, 1])
    return list(np.array(offered, dtype=object)[rng.integers(len(offered), size=plan.n)])


def partner_answers(partner: Partner, codebook: Codebook, response: Response, tick: str = "Y") -> dict[str, str]:
    """The response as the partner's tool holds it: under the partner's question codes, in its answer codes.

    Where the partner maps one column per option ("ITEM=option"), each ticked option's column holds tick; an
    "other" text column ("ITEM=option:text") holds a text when its option is ticked. A multiple choice in one
    field holds the partner's choice names, space-separated (a select_multiple), each recoded on its own. A
    partner that asks for the organisation type holds the respondent's choice in its own code.
    """
    recode = _inverse_recode(partner, codebook)
    out: dict[str, str] = {}
    for partner_code, text in _first_code_per_target(partner).items():
        mapped = parse_target(text)
        value = response.answers.get(mapped.item)
        if value is None:
            continue
        table = recode.get(mapped.item, {})
        if mapped.option:
            if mapped.option in value.split():
                out[partner_code] = OTHER_TEXT if mapped.by_text else tick
        elif codebook.item_by_code[mapped.item].type == "multi":
            out[partner_code] = " ".join(table.get(option, option) for option in value.split())
        else:
            out[partner_code] = table.get(value, value)
    asked = partner.asked_org_type
    if asked:
        theirs = {ours: code for code, ours in asked.recode.items()}
        out[asked.field] = theirs.get(response.org_type, response.org_type)
    for field in partner.identifier_fields:
        out[field] = response.contact["name"]
    return out


def answer_labels(partner: Partner, codebook: Codebook) -> dict[str, dict[str, str]]:
    """The labels of the partner's answer codes as its form shows them: question code → the partner's code of
    each answer the item allows → the codebook's German label, so that a correct form agrees with the recode.
    Questions of free text and columns of a single option have none. The question asking for the organisation
    type (a list of the partner's codes) is labelled with the codebook's organisation types."""
    recode = _inverse_recode(partner, codebook)
    labels: dict[str, dict[str, str]] = {}
    for partner_code, target in _first_code_per_target(partner).items():
        item = codebook.item_by_code[target.partition("=")[0]]
        if "=" in target or item.type == "text":
            continue
        theirs = recode.get(item.code, {})
        labels[partner_code] = {theirs.get(o.code, o.code): o.label for o in codebook.options_of(item)}
    asked = partner.asked_org_type
    if asked:
        offered = {ours: code for code, ours in asked.recode.items()} or {o.code: o.code for o in codebook.org_types}
        labels[asked.field] = {offered[o.code]: o.label for o in codebook.org_types if o.code in offered}
    return labels


def _first_code_per_target(partner: Partner) -> dict[str, str]:
    """Partner code → target, keeping the first partner code of each target (a renamed group maps twice)."""
    firsts: dict[str, str] = {}
    for partner_code, target in partner.mapping.items():
        firsts.setdefault(target, partner_code)
    return {code: target for target, code in firsts.items()}


def _inverse_recode(partner: Partner, codebook: Codebook) -> dict[str, dict[str, str]]:
    inverse: dict[str, dict[str, str]] = {}
    for item in codebook.items:
        table = {**partner.recode.get(item.scale_name or "", {}), **partner.recode.get(item.code, {})}
        if table:
            inverse[item.code] = {ours: theirs for theirs, ours in table.items()}
    return inverse


def _draw(rng: np.random.Generator, codebook: Codebook, item: Item, n: int) -> np.ndarray:
    """Answers of n respondents to one item; about one in ten skips it."""
    if item.type == "text":
        out = np.array(FREE_TEXTS, dtype=object)[rng.integers(len(FREE_TEXTS), size=n)]
        out[rng.random(n) < 0.7] = MISSING
        return out
    codes = np.array([o.code for o in codebook.options_of(item)], dtype=object)
    if item.type == "multi":
        ticked = rng.random((n, len(codes))) < 0.3
        out = np.array([" ".join(codes[row]) or MISSING for row in ticked], dtype=object)
    else:
        weights = np.ones(len(codes))
        if item.type == "scale":
            centre = rng.uniform(2, 4.5)
            weights[:5] = np.exp(-0.2 * (np.arange(1, 6) - centre) ** 2) * 10
            weights[5:] = 0.5
        out = codes[rng.choice(len(codes), size=n, p=weights / weights.sum())]
    out[rng.random(n) < 0.1] = MISSING
    return out


def _times(rng: np.random.Generator, wave: Wave, n: int, now: datetime) -> list[datetime]:
    """Submission times in UTC (as Kobo sends them, without offset) inside the wave's window of local days and
    not after now, ascending, whole seconds."""
    local = ZoneInfo(CITY_TIMEZONE)
    opens = datetime.combine(wave.opens, time.min, local).astimezone(UTC)
    closes = min(datetime.combine(wave.closes, time.max, local).astimezone(UTC), now.replace(tzinfo=UTC))
    span = max(int((closes - opens).total_seconds()), 1)
    offsets = np.sort(rng.integers(0, span, size=n))
    return [(opens + timedelta(seconds=int(s))).replace(tzinfo=None) for s in offsets]
