"""Kobo's payloads made usable: the cursor's submission time, and answer labels from an asset's form content."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.extract import german_first

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"  # how Kobo writes _submission_time (UTC, no offset)


def latest(latest: str | None, records: pa.Table, began: str) -> str | None:
    """The latest well-formed submission time read so far, never past `began`. Times of one format order as
    strings like the times they show; any other string (a malformed time) is left out."""
    times = records.column("submitted_at")
    parsed = pc.strptime(pc.utf8_slice_codeunits(times, 0, 19), format=TIME_FORMAT, unit="s", error_is_null=True)
    usable = pc.and_(pc.is_valid(parsed), pc.less_equal(times, began))
    candidate = pc.max(pc.filter(times, usable)).as_py()
    return max(filter(None, (latest, candidate)), default=None)


def asset_labels(
    survey: list[dict[str, Any]], choices: list[dict[str, Any]], translations: list[str | None] | None
) -> dict[str, dict[str, str]]:
    """Question path → choice name → label (in German where the form has it) of a Kobo asset's content."""
    pick = german_first(translations or [None])
    lists: dict[str, dict[str, str]] = {}
    for choice in choices:
        lists.setdefault(choice["list_name"], {})[str(choice["name"])] = _translated(choice.get("label"), pick)
    answers: dict[str, dict[str, str]] = {}
    groups: list[str] = []
    for row in survey:
        kind, name = row.get("type", ""), row.get("name") or row.get("$autoname") or ""
        if kind in ("begin_group", "begin_repeat"):
            groups.append(name)
        elif kind in ("end_group", "end_repeat"):
            groups = groups[:-1]
        elif row.get("select_from_list_name") in lists:
            answers["/".join([*groups, name])] = lists[row["select_from_list_name"]]
    return answers


def _translated(label: object, pick: int) -> str:
    """A label in the chosen translation: a list has one per translation, a single language form a string."""
    if isinstance(label, list):
        label = label[pick] if pick < len(label) else next((text for text in label if text), None)
    return str(label or "")
