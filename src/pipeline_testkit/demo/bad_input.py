"""Bad input, as partners' tools and exports really send it, planted into a running demo world.

`pipeline demo` plants it so that its closing status shows a quarantine with reasons and duplicates next to the
loaded responses; the tests check that every case ends as said here. Two demo partners get it: the city's
KoboToolbox form (pages of 50, so duplicates fall within and across pages) and the Staatsphilharmonie's CSV
drop, which gets a late delivery ("Nachlieferung") written by an older Excel as Windows-1252 without a BOM.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.registry import Partner
from pipeline_testkit.demo import Demo
from pipeline_testkit.emulators import files
from pipeline_testkit.emulators.synthetic import Response

KOBO_PARTNER = "stadt-lu"
FILES_PARTNER = "staatsphilharmonie-lu"
LONG_TEXT = 10_001  # one character over the longest free text the codebook allows


@dataclass(frozen=True)
class Planted:
    """One case: where it went, the response id it carries, and how it must end (loaded, quarantined with
    `reason`, or counted as a duplicate because a later listing of the same response counts)."""

    partner_id: str
    source_id: str
    case: str
    outcome: str
    reason: str = ""


def plant(world: Demo) -> list[Planted]:
    """Add the bad input to the running emulators and drop folder; returns what was planted."""
    return _kobo(world) + _files(world)


def _kobo(world: Demo) -> list[Planted]:
    partner = world.registry.partner(KOBO_PARTNER)
    service = world.services["kobo"]
    served = sorted(service.served[partner.id], key=lambda s: s["_id"])
    page = partner.connector.page_size or 100
    scale, text = _code_of(world, partner, "scale"), _code_of(world, partner, "text")
    # Kobo's pull reads by _id and a copy sorts right after its original: one copy on the first page, one on the
    # second (a response on two pages cannot happen: each page starts after the previous page's last _id).
    within, across, edited = served[page // 2], served[page + 1], served[page + 3]
    blank = {**served[-1], "_id": 9_001, scale: "", text: None}
    blank.pop(_code_of(world, partner, "scale", nth=1), None)
    emoji = {**served[-1], "_id": 9_002, text: "Mehr Begegnung 🤝🏽 im Hemshof – danke! 🎉"}
    long = {**served[-1], "_id": 9_003, text: "Sehr ausführlich. " * (LONG_TEXT // 18 + 1)}
    change = {**edited, scale: "1" if edited.get(scale) != "1" else "2"}
    service.emulator.add_submissions(
        partner.connector.asset_uid, [dict(within), dict(across), change, blank, emoji, long]
    )
    pid = partner.id
    return [
        Planted(pid, str(within["_id"]), "the same response twice on one page", "duplicate"),
        Planted(pid, str(across["_id"]), "the same response twice on the second page", "duplicate"),
        Planted(pid, str(edited["_id"]), "a response edited after it was submitted (the edit wins)", "duplicate"),
        Planted(pid, "9001", "an empty string, a null and a missing key for three questions", "loaded"),
        Planted(pid, "9002", "emoji in a free text", "loaded"),
        Planted(pid, "9003", f"a free text of {len(long[text])} characters", "quarantined", "free text longer"),
    ]


def _files(world: Demo) -> list[Planted]:
    partner = world.registry.partner(FILES_PARTNER)
    generated: list[Response] = world.generated[partner.id]
    base = files.export_row(partner, world.codebook, generated[-1])
    scale, text = _code_of(world, partner, "scale"), _code_of(world, partner, "text")
    when = partner.connector.submitted_column
    rows = [
        {**base, partner.connector.id_column: "9101", scale: "37,5"},
        {**base, partner.connector.id_column: "9102", scale: "37.5"},
        {**base, partner.connector.id_column: "9103", when: "gestern 14 Uhr"},
        {**base, partner.connector.id_column: "9104", text: "Barrierefreie Konzerte für Ältere, Übertitel für alle"},
        {**base, partner.connector.id_column: "9105", scale: ""},
    ]
    folder = Path(world.services["files"].overrides[partner.id]["folder"])
    files.write_csv(folder / "Nachlieferung_Welle_2026.csv", files.header(partner), rows, encoding="cp1252")
    pid = partner.id
    return [
        Planted(pid, "9101", 'a number with a decimal comma ("37,5") as an answer', "quarantined", "answer code"),
        Planted(pid, "9102", 'a number with a decimal point ("37.5") as an answer', "quarantined", "answer code"),
        Planted(pid, "9103", 'a submission time that is no date ("gestern 14 Uhr")', "quarantined", "submission time"),
        Planted(pid, "9104", "umlauts in a file written as Windows-1252 without a BOM", "loaded"),
        Planted(pid, "9105", "an empty cell", "loaded"),
    ]


def _code_of(world: Demo, partner: Partner, item_type: str, nth: int = 0) -> str:
    """The partner's question code of its nth item of a type that every instrument version asks."""
    codebook = world.codebook
    everywhere = set.intersection(*({i.code for i in codebook.items_in(v.version)} for v in codebook.versions))
    codes = [
        code
        for code, target in partner.mapping.items()
        if target in everywhere and codebook.item_by_code[target].type == item_type
    ]
    return codes[nth]
