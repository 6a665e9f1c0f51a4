"""Deterministic synthetic responses, shaped as KoboToolbox submissions of a partner's form.

The same seed gives the same responses on every machine, so tests and benchmarks can compute the expected
figures from what was generated. Answers are drawn column by column with numpy; only the assembly of each
submission's dict is per response, as a Kobo server stores them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from pipeline.codebook import Codebook, Item
from pipeline.registry import Partner, Wave

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


def submissions(codebook: Codebook, plan: Plan, seed: int, now: datetime) -> list[dict[str, Any]]:
    """plan.n Kobo submissions with ids first_id, first_id + 1, ...; the first plan.invalid ones hold an
    answer code outside the scale (to be quarantined)."""
    rng = np.random.default_rng([seed, plan.first_id])
    n = plan.n
    items = codebook.items_in(plan.wave.instrument_version)
    codes = _partner_codes(plan.partner)
    answers = {item.code: _draw(rng, codebook, item, n) for item in items if item.code in codes}
    scale_items = [code for code in answers if codebook.item_by_code[code].type == "scale"]
    for row in range(min(plan.invalid, n)):
        answers[scale_items[row % len(scale_items)]][row] = "7"
    recode = _inverse_recode(plan.partner, codebook)
    times = _times(rng, plan.wave, n, now)
    rows = []
    for i in range(n):
        submitted = times[i]
        row: dict[str, Any] = {
            "_id": plan.first_id + i,
            "formhub/uuid": "5d2b0c1e8f4a4b7e9c3d1a2b3c4d5e6f",
            "start": (submitted - timedelta(minutes=14)).isoformat(timespec="milliseconds") + "-00:00",
            "end": (submitted - timedelta(seconds=9)).isoformat(timespec="milliseconds") + "-00:00",
            "today": submitted.date().isoformat(),
            "deviceid": f"ee.kobo.lu:{rng.integers(10**9)}",
            "kontakt/email": f"person{plan.first_id + i}@beispiel.de",
        }
        for field in plan.partner.identifier_fields:
            row[field] = f"Erika Mustermann-{plan.first_id + i}"
        for item_code, values in answers.items():
            value = values[i]
            if value is not MISSING:
                row[codes[item_code]] = recode.get(item_code, {}).get(value, value)
        uid = str(uuid.UUID(int=int(rng.integers(2**63)) << 64 | plan.first_id + i))
        row.update({
            "__version__": f"v{plan.wave.instrument_version.replace('.', '')}demo",
            "meta/instanceID": f"uuid:{uid}",
            "_xform_id_string": plan.partner.connector.asset_uid,
            "_uuid": uid,
            "_attachments": [],
            "_status": "submitted_via_web",
            "_geolocation": [None, None],
            "_submission_time": submitted.isoformat(timespec="seconds"),
            "_tags": [],
            "_notes": [],
            "_validation_status": {},
            "_submitted_by": None,
            "meta/rootUuid": f"uuid:{uid}",
        })  # fmt: skip
        rows.append(row)
    return rows


def _partner_codes(partner: Partner) -> dict[str, str]:
    """Item → the partner's question code (the first one mapped, where a group was renamed)."""
    codes: dict[str, str] = {}
    for partner_code, item_code in partner.mapping.items():
        codes.setdefault(item_code, partner_code)
    return codes


def _inverse_recode(partner: Partner, codebook: Codebook) -> dict[str, dict[str, str]]:
    inverse: dict[str, dict[str, str]] = {}
    for item in codebook.items:
        table = {**partner.recode.get(item.scale or "", {}), **partner.recode.get(item.code, {})}
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
