"""What an attacker's interval must keep: the protection rules, and a figure's failure to keep them.

Shared by the search (audit.py, attacker.py, insiders.py, row_check.py) and the publish gate (verify.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

TOL = 1e-6
INF = math.inf


@dataclass(frozen=True)
class Level:
    """How wide an attacker's interval around a small count must stay (GaussSuppression's default rule)."""

    upper: float = 1.0  # the upper bound at least n + upper
    width: float = 2.0  # upper - lower at least width


@dataclass(frozen=True)
class Failure:
    """A primary figure (or group) the pattern does not protect; `target` is what the attacker bounds."""

    figure: int
    reason: str
    text: str
    target: sp.csr_matrix
    sense: int  # +1: the failing bound is the upper one, -1: the lower one, 0: both
    insider: int = -1
    # what the failing bound rested on when it was found (`Attacker.helpful`); None: not read then
    helpful: np.ndarray | None = field(default=None, repr=False)


def unprotected_many(
    lo: np.ndarray, hi: np.ndarray, value: np.ndarray, small: np.ndarray, level: Level, change: np.ndarray
) -> np.ndarray:
    """`unprotected` for many figures at once (whether any reason applies)."""
    too_low, too_narrow = narrow(lo, hi, value, level)
    return np.where(change, proven_as_large(lo, value), np.where(small, too_low | too_narrow, single_integers(lo, hi)))


def unprotected(lo: float, hi: float, value: float, small: bool, level: Level, change: bool = False) -> str:
    if change:
        return "lower" if proven_as_large(lo, value) else ""
    if small:
        too_low, too_narrow = narrow(lo, hi, value, level)
        return "upper" if too_low else "width" if too_narrow else ""
    return "exact" if single_integer(lo, hi) else ""


def narrow(lo: Any, hi: Any, value: Any, level: Level) -> tuple[Any, Any]:
    """Whether a small count's interval fails the protection level: its upper bound below n + `level.upper`,
    or narrower than `level.width`. Counts are whole numbers, so the LP interval is first rounded inwards to
    the integers in it ([3.5, 5.5] holds 4 and 5 only: width 1, not 2)."""
    lower = np.ceil(np.asarray(lo, dtype=float) - TOL)
    upper = np.floor(np.asarray(hi, dtype=float) + TOL)
    return upper < value + level.upper - TOL, upper - lower < level.width - TOL


def proven_as_large(lo: Any, value: Any) -> Any:
    """Whether the change of a count (oriented: its value is its size d > 0) is provably as large as it is:
    the attacker's lower bound, rounded up to a whole number, reaches d (it must be d - 1 at most, the
    analogue of "upper bound n + 1" for what the respondents who came, left or changed their answers gave)."""
    return np.ceil(np.asarray(lo, dtype=float) - TOL) > np.asarray(value, dtype=float) - 1 + TOL


def single_integer(lo: float, hi: float) -> bool:
    if math.isinf(hi) or math.isinf(lo):
        return False
    return math.floor(hi + TOL) - math.ceil(lo - TOL) < 1


def single_integers(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    finite = np.isfinite(lo) & np.isfinite(hi)
    return finite & (np.floor(np.where(finite, hi, 0) + TOL) - np.ceil(np.where(finite, lo, 0) - TOL) < 1)


def finite_or_none(value: float) -> float | None:
    return None if math.isinf(value) else value


def shown(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:g}"
