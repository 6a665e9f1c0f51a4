"""Disclosure control for the published tables: primary and secondary suppression, until the audit passes.

Unit of protection: one response. The tables are one linear model (linear_model.py, built by cube.py), so
suppression and audit look at all of them jointly: the answer counts, their margins, n_answered and n_valid,
the sums behind means and top-2 shares, the Handlungsfeld and theme figures built from the same answers, and
the free-text counts.

Each part of the model that shares nothing with the rest is suppressed and audited on its own
(suppression.py: primary cells, Gaussian-elimination secondary suppression, the LP audit and its repairs),
by this process and helper processes together, and its pattern then checked by the publish gate (verify.py:
a plain LP verifier, apart from the search's tuned attacker); the release's audit combines the parts' audits.

Stable patterns: keys in `previous_hidden` (the previous release's hidden cells) stay hidden.

Published values of hidden cells are NULL with status "." ("Zahlenwert geheim zu halten", the sign of German
official statistics); "x" marks a value that does not apply.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from pipeline.disclosure import cube
from pipeline.disclosure.audit import Audit
from pipeline.disclosure.linear_model import LinearModel
from pipeline.disclosure.rules import Level
from pipeline.disclosure.suppression import MAX_ROUNDS, Pattern, primary_cells, ready, suppress_part

__all__ = ["Level", "Protection", "protect"]


@dataclass(frozen=True)
class Protection:
    """A protected release: the four published tables, the keys of its hidden cells, and its audit."""

    tables: dict[str, pd.DataFrame]
    hidden_cells: set[str]
    audit: Audit
    primary_cells: set[str] = field(default_factory=set)
    # what the protection cost (cube.information_loss): the manifest reports it with every release
    information_loss: dict[str, Any] = field(default_factory=dict)
    rounds: int = 1
    seconds: dict[str, float] = field(default_factory=dict)


def protect(
    marts: dict[str, pd.DataFrame],
    k: int,
    previous_hidden: set[str] | None = None,
    group_rule: bool = True,
    level: Level | None = None,
    max_rounds: int = MAX_ROUNDS,
    previous_marts: dict[str, pd.DataFrame] | None = None,
    previous_k: int | None = None,
) -> Protection:
    """Protect the marts of the waves to publish (see the module docstring).

    `previous_hidden`: the cell keys the previous release hid; those that still exist stay hidden.
    `level`: the protection level of small counts (default: upper bound >= n + 1, interval >= 2 wide).
    The returned audit's `passed` is False when no pattern was found that passes: the caller must refuse.
    `previous_marts`: the true figures behind the previous release (an attacker holds both releases, and
    what changed between them is what a few respondents gave): they are protected and audited jointly with
    this one (`cube.with_previous`), the previous release's published figures fixed as published.
    `previous_k`: the k the previous release was protected with (default `k`): its figures are judged by the
    primary cells of that k, since its pattern cannot change now (an operator who raised k cannot make the
    previous release's hidden counts of the old k protected ones).

    The model falls apart into parts that share nothing (a Handlungsfeld of one wave with its items: waves
    share no published figure, since a change since the previous wave is shown only where both means are), so
    each part is suppressed and audited on its own; when the release is large, by this process and a helper
    process per further core together. Only a part whose audit fails goes another round.
    """
    started = time.perf_counter()
    hidden_before = frozenset(previous_hidden or ())
    rows = sum(len(marts[name]) for name in cube.MARTS) * (2 if previous_marts is not None else 1)
    with _helpers(rows >= PARALLEL_ROWS) as helpers:  # they start while the model is built
        model_cube = cube.build(marts)
        model = model_cube.model
        then = (previous_k or k, group_rule)
        joint, before, published_before, settled = _with_previous(model, previous_marts, hidden_before, then)
        parts = joint.parts()
        settings = (k, group_rule, level or Level(), max_rounds)
        jobs = [
            (part, before[figures], published_before[figures], settled[figures], *settings) for figures, part in parts
        ]
        patterns = _run(jobs, helpers)
    hidden = np.zeros(joint.n_figures, bool)
    primary = np.zeros(joint.n_figures, bool)
    for (figures, _), pattern in zip(parts, patterns, strict=True):
        hidden[figures] = pattern.hidden
        primary[figures] = pattern.primary
    hidden, primary = hidden[: model.n_figures], primary[: model.n_figures]
    tables, hidden_keys = model_cube.tables(hidden, hidden_before)
    shown = ~model.unpublished  # the audit summary counts the cells of the tables
    seconds = {name: sum(p.seconds[name] for p in patterns) for name in ("suppression", "audit", "last_audit")}
    seconds["total"] = time.perf_counter() - started
    primary_keys = set(model.keys[primary & shown])
    return Protection(
        tables=tables,
        hidden_cells=hidden_keys,
        # counted over this release's cells (a joint audit also attacked the previous release and the changes)
        audit=dataclasses.replace(
            Audit.combine([p.audit for p in patterns]),
            cells=int(shown.sum()),
            primary=int((primary & shown).sum()),
            secondary=int((hidden & ~primary & shown).sum()),
        ),
        primary_cells=primary_keys,
        information_loss=cube.information_loss(model_cube.frames, tables, primary_keys, k),
        rounds=max((p.rounds for p in patterns), default=0),
        seconds=seconds,
    )


PARALLEL_ROWS = 15_000  # below this many published rows, starting a process costs more than it saves


def _with_previous(
    model: LinearModel,
    previous_marts: dict[str, pd.DataFrame] | None,
    hidden_before: frozenset[str],
    then: tuple[int, bool],
) -> tuple[LinearModel, np.ndarray, np.ndarray, np.ndarray]:
    """The model to protect, the figures hidden before, those published before (fixed as published), and the
    previous release's figures that were no primary cells by its k and group rule `then` (not judged again)."""
    hidden = cube.among(model.keys, hidden_before)
    alone = np.zeros(model.n_figures, bool)
    if previous_marts is None:
        return model, hidden, alone, alone
    previous = cube.build(previous_marts).model
    joint = cube.with_previous(model, previous)
    if joint is model:
        return model, hidden, alone, alone
    n_change = joint.n_figures - model.n_figures - previous.n_figures
    hidden_then = previous.hiding(cube.among(previous.keys, hidden_before))
    # a change is never published (`unpublished`), except that of a grand total (both releases publish the
    # totals): protected where it is small
    total_change = joint.grand_total[-n_change:] if n_change else np.zeros(0, bool)
    before = np.concatenate([hidden, hidden_then, np.zeros(n_change, bool)])
    settled = np.concatenate([alone, ~primary_cells(previous, *then)[0], np.zeros(n_change, bool)])
    return joint, before, np.concatenate([alone, ~hidden_then, total_change]), settled


@dataclass(frozen=True)
class _Helpers:
    pool: ProcessPoolExecutor
    n: int


@contextmanager
def _helpers(wanted: bool) -> Iterator[_Helpers | None]:
    """Processes for the other cores (this one works too), started at once: a spawned process needs about
    0.6 s to import what `suppression` needs (numpy, scipy, highspy, numba; not pandas, which this module
    and cube.py need), which it spends while this one builds the model. Spawned, not forked: the caller may
    hold threads (DuckDB, Prefect)."""
    n = (os.cpu_count() or 1) - 1
    if not wanted or n < 1:
        yield None
        return
    pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))
    try:
        for _ in range(n):
            pool.submit(ready)
        yield _Helpers(pool, n)
    finally:
        # not waiting for the helpers to exit (their interpreter's teardown takes 0.3 s): they stop on their own
        pool.shutdown(wait=False, cancel_futures=True)


def _run(jobs: list[tuple], helpers: _Helpers | None) -> list[Pattern]:
    """The parts' patterns, in order. The parts are taken largest first, each by whoever is free next (this
    process or a helper), so the last to finish are small ones and no one waits long for the others."""
    if helpers is None:
        return [suppress_part(*job) for job in jobs]
    patterns: list[Pattern | None] = [None] * len(jobs)
    queue = iter(range(len(jobs)))
    lock = threading.Lock()
    failed = threading.Event()

    def work(run_part: Callable[..., Pattern]) -> None:
        while not failed.is_set():
            with lock:
                i = next(queue, None)
            if i is None:
                return
            try:
                patterns[i] = run_part(*jobs[i])
            except BaseException:
                failed.set()  # the others stop after their current part
                raise

    def remote(*job: Any) -> Pattern:
        return helpers.pool.submit(suppress_part, *job).result()

    with ThreadPoolExecutor(helpers.n) as threads:  # a thread per helper hands it parts and waits
        waiting = [threads.submit(work, remote) for _ in range(helpers.n)]
        work(suppress_part)
        for future in waiting:
            future.result()  # re-raises a helper's error
    return cast(list[Pattern], patterns)  # every part done: an error would have been raised
