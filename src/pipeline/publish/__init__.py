"""Publishing for the steering group: a release of the closed waves' marts under disclosure control.

A release is built from the marts of closed waves only (a wave's closing date has passed in the city's time
zone): publishing an open wave night after night would let anyone learn a newcomer's answers by comparing two
releases. An operator may publish open waves all the same (`PIPELINE_PUBLISH_OPEN_WAVES`). Closed waves change
too (late responses, edits, erasures, a partner's full re-read), so every release is protected and audited
jointly with the true figures behind the previous one (kept apart, never published): a change of a count by
fewer than k respondents must not be provable as large as it is.

A release's cells are protected (primary and secondary suppression, see disclosure.py), the protection is
attacked by the audit, and only a release that passes is switched to; otherwise the previous one stays. The
same protected tables feed every artefact, so a cell is hidden the same way in the DuckDB file, Parquet, CSV,
workbook and report.

The entry points (`publish`, `publish_all`, ...) are in `publication` and loaded on first use: importing a part
(release, analyst) must not import the disclosure control (scipy, numba), which costs the `pipeline` command a
second at every start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.publish.publication import (
        DUCKDB_FILE,
        MARTS,
        REPORT,
        WORKBOOK,
        Publication,
        PublishRefused,
        Refreshed,
        Release,
        When,
        publish,
        publish_all,
    )

__all__ = [
    "DUCKDB_FILE",
    "MARTS",
    "REPORT",
    "WORKBOOK",
    "Publication",
    "PublishRefused",
    "Refreshed",
    "Release",
    "When",
    "publish",
    "publish_all",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("pipeline.publish.publication"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
