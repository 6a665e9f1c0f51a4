"""Where an ingest's seconds go, stage by stage: wall time spent in the pipeline's own functions, measured by
wrapping them for one benchmark run (`./dev bench --stages`).

The stages nest as the loader calls them: *load* (a batch with the writer's right and its connection) holds
*classify*, *check* (which holds *map*, *shape* and *validate*), *upsert* and *drift*; *pull* is what is left of the
ingest (HTTP, the emulators' answers, parsing pages into records). Each SQL file's own time is listed as well.
"""

from __future__ import annotations

import functools
import importlib
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

SECONDS: dict[str, float] = defaultdict(float)

# (module, attribute, stage): the functions timed.
TIMED: list[tuple[str, str, str]] = [
    ("pipeline.load.ingest", "_load", "load (batch, in its transaction)"),
    ("pipeline.db", "connect", "open the working file"),
    ("pipeline.contract.batch", "BatchContract.check", "check (map, item checks in SQL, pandera on responses)"),
    ("pipeline.contract.validation", "shape", "shape (times, waves, org type of each response)"),
    ("pipeline.contract.validation", "validate", "validate (pandera)"),
    ("pipeline.load.loader", "PartnerLoader._upsert", "upsert into staging and core"),
    ("pipeline.contract.drift", "DriftRecorder.record", "drift and coverage"),
    ("pipeline.extract.json_records", "without_nested_identifiers", "nested identifiers removed"),
]


def _timed(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SECONDS[stage] += time.perf_counter() - started

    return wrapper


def _sql_timed(fn: Callable[..., Any]) -> Callable[..., Any]:
    """db.run and db.relation: each SQL file's time, the relation's until its rows are read."""

    @functools.wraps(fn)
    def wrapper(con: Any, sql_dir: Any, name: str, *args: Any) -> Any:
        started = time.perf_counter()
        result = fn(con, sql_dir, name, *args)
        if hasattr(result, "to_arrow_table") and not hasattr(result, "execute"):
            table = result.to_arrow_table()
            SECONDS[f"sql {name}"] += time.perf_counter() - started
            return _Read(table)
        SECONDS[f"sql {name}"] += time.perf_counter() - started
        return result

    return wrapper


class _Read:
    """A relation already read (its time counted with its SQL file)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def to_arrow_table(self) -> Any:
        return self._table


def install() -> None:
    """Wrap the stages' functions (before the pipeline runs)."""
    for module_name, attribute, stage in TIMED:
        module = importlib.import_module(module_name)
        owner_name, _, name = attribute.rpartition(".")
        owner = getattr(module, owner_name) if owner_name else module
        setattr(owner, name, _timed(stage, getattr(owner, name)))
    db = importlib.import_module("pipeline.db")
    db.run = _sql_timed(db.run)
    db.relation = _sql_timed(db.relation)


def table(ingest_s: float) -> list[tuple[str, float]]:
    """The stages, the longest first, with *pull* as what the ingest spent outside loading batches."""
    rows = [("pull (HTTP, emulators, pages parsed)", ingest_s - SECONDS["load (batch, in its transaction)"])]
    rows += sorted(SECONDS.items(), key=lambda kv: -kv[1])
    return rows
