"""Checks where values enter: the CLI's options and the public API's arguments. Each
failure names the argument; it is a FlowraceError (one line and exit 2 on the command
line) and a ValueError or TypeError (in Python)."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

from .errors import BadType, BadValue

U64 = 1 << 64
#: the longest time budget any command accepts (a year is not a budget)
MAX_SECONDS = 1e6


def check_int(value: Any, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """An integer (not a bool) within lo..hi (inclusive)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise BadType(f"{name} must be an integer, not {type(value).__name__} ({value!r:.40})")
    value = int(value)
    if lo is not None and value < lo or hi is not None and value > hi:
        if hi is None:
            rng = f"at least {lo}"
        elif lo is None:
            rng = f"at most {hi}"
        else:
            rng = f"between {lo} and {hi}"
        shown = str(value) if abs(value) < 10**30 else f"a {len(str(abs(value)))}-digit number"
        raise BadValue(f"{name} must be {rng}, not {shown}")
    return value


def check_seed(value: Any, name: str = "seed") -> int:
    """A seed: 0 .. 2**64-1 (never taken modulo anything)."""
    return check_int(value, name, 0, U64 - 1)


def check_number(value: Any, name: str, lo: float | None = None, hi: float | None = None,
                 *, positive: bool = False) -> float:
    """A finite real number (not a bool) within lo..hi; `positive`: > 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise BadType(f"{name} must be a number, not {type(value).__name__} ({value!r:.40})")
    try:
        x = float(value)
    except OverflowError:
        raise BadValue(f"{name} must be a finite number, not {value!r:.40}") from None
    if not math.isfinite(x):
        raise BadValue(f"{name} must be a finite number, not {x}")
    if positive and x <= 0:
        raise BadValue(f"{name} must be positive, not {x:g}")
    if lo is not None and x < lo or hi is not None and x > hi:
        lo_s = "" if lo is None else f"{lo:g}"
        hi_s = "" if hi is None else f"{hi:g}"
        raise BadValue(f"{name} must be within {lo_s}..{hi_s}, not {x:g}")
    return x


def check_budget(value: Any, name: str = "time_budget") -> float:
    """Seconds: finite, positive, at most MAX_SECONDS."""
    return check_number(value, name, hi=MAX_SECONDS, positive=True)
