"""Pulling ahead of the load (pipeline.load.ingest._prefetched): the loader must get every page in order, the
pull's error where its page would have been, and a pull that stops when the loader does."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pipeline.errors import PartnerError
from pipeline.load.ingest import _prefetched


class _Pull:
    """A pull of n pages that fails after `fails_after` pages if given; records how far it got and its end."""

    def __init__(self, n: int, fails_after: int | None = None) -> None:
        self.n, self.fails_after = n, fails_after
        self.produced = 0
        self.closed = False

    def pages(self) -> Iterator[int]:
        try:
            for i in range(self.n):
                if i == self.fails_after:
                    raise PartnerError("kobo-test", f"page {i} could not be read")
                self.produced += 1
                yield i
        finally:
            self.closed = True


def _pull_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "pull kobo-test"]


def test_every_page_arrives_in_order() -> None:
    pull = _Pull(200)
    assert list(_prefetched(pull.pages(), 3, "kobo-test")) == list(range(200))  # type: ignore[arg-type]
    assert pull.closed and not _pull_threads()


def test_the_pulls_error_comes_after_the_pages_before_it() -> None:
    pull = _Pull(50, fails_after=7)
    got = []
    with pytest.raises(PartnerError, match="page 7 could not be read"):
        for page in _prefetched(pull.pages(), 4, "kobo-test"):  # type: ignore[arg-type]
            got.append(page)
    assert got == list(range(7))
    assert pull.closed and not _pull_threads()


def test_a_loader_that_stops_stops_the_pull() -> None:
    pull = _Pull(10_000)
    pages = _prefetched(pull.pages(), 4, "kobo-test")  # type: ignore[arg-type]
    assert [next(pages) for _ in range(3)] == [0, 1, 2]
    pages.close()  # as when a batch's load fails
    assert pull.closed and not _pull_threads()
    assert pull.produced <= 3 + 4 + 1, "the pull ran on ahead of what it may hold"
