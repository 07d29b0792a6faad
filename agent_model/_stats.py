"""StatCounters: the monotonic counters of one connection and the Windows arithmetic on them.

Upstream: ``pkg/network/event_common.go`` (``StatCounters``, ``Add``, ``Max``, ``IsZero``) and
``event_common_notlinux.go`` (``Sub``, the one built on Windows).
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import NamedTuple, NoReturn

__all__ = ["ZERO_COUNTERS", "StatCounters", "check_counter", "check_time"]

_new = tuple.__new__


class StatCounters(NamedTuple):
    """Counters of a connection; an immutable value: every operation returns a new one.

    All fields are non-negative integers. Byte and packet fields are plain monotonic counters;
    ``retransmits``, ``tcp_established`` and ``tcp_closed`` are *gated* (see :meth:`sub`).
    (A named tuple for speed: ``+`` and ``*`` are refused; use :meth:`add`.)
    """

    sent_bytes: int = 0
    recv_bytes: int = 0
    sent_packets: int = 0
    recv_packets: int = 0
    retransmits: int = 0
    tcp_established: int = 0
    tcp_closed: int = 0

    def sub(self, other: StatCounters) -> tuple[StatCounters, bool]:
        """``self - other`` with the Windows rules; returns ``(difference, underflow)``.

        * byte and packet fields subtract plainly; any decrease is an underflow;
        * ``retransmits``, ``tcp_established``, ``tcp_closed`` are subtracted only when the
          current value (``self``) is > 0, else their difference is 0; a decrease is an
          underflow only when the current value is > 0.

        On underflow the difference is all-zero (Go returns the zero value); the caller corrects
        with :meth:`max` and subtracts again (``update_conn_with_stats``).
        """
        sb, rb, sp, rp, ret, est, clo = self
        osb, orb, osp, orp, oret, oest, oclo = other
        if (
            sb < osb
            or rb < orb
            or sp < osp
            or rp < orp
            or (ret > 0 and ret < oret)
            or (est > 0 and est < oest)
            or (clo > 0 and clo < oclo)
        ):
            return ZERO_COUNTERS, True
        return (
            _new(
                StatCounters,
                (
                    sb - osb,
                    rb - orb,
                    sp - osp,
                    rp - orp,
                    ret - oret if ret > 0 else 0,
                    est - oest if est > 0 else 0,
                    clo - oclo if clo > 0 else 0,
                ),
            ),
            False,
        )

    def add(self, other: StatCounters) -> StatCounters:
        """Field-wise sum."""
        return _new(StatCounters, map(int.__add__, self, other))

    def max(self, other: StatCounters) -> StatCounters:
        """Field-wise maximum (the underflow correction, and the merge of two copies)."""
        return _new(StatCounters, map(max, self, other))

    def is_zero(self) -> bool:
        """True when every field is 0: such a ``Last`` is not shipped."""
        return not any(self)

    def __add__(self, other: object) -> NoReturn:
        raise TypeError("StatCounters: use a.add(b) for the field-wise sum")

    __radd__ = __add__

    def __mul__(self, other: object) -> NoReturn:
        raise TypeError("StatCounters cannot be repeated")

    __rmul__ = __mul__


U64 = 1 << 64


def check_counter(value: object, name: str) -> int:
    """A counter, a cookie or a count: an int (not a bool) in 0 .. 2**64-1; else a
    TypeError or ValueError that names the argument."""
    if type(value) is int and 0 <= value < U64:  # the fast path
        return value
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__} ({value!r:.40})")
    value = int(value)  # type: ignore[arg-type]
    if not 0 <= value < U64:
        shown = value if abs(value) < 10**30 else f"a {len(str(abs(value)))}-digit number"
        raise ValueError(f"{name} must be within 0..2**64-1, not {shown}")
    return value


def check_time(value: object, name: str, *, positive: bool = False) -> float:
    """A time in seconds: a finite real number (not a bool), >= 0 (or > 0)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__} "
                        f"({value!r:.40})")
    try:
        x = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be a finite number of seconds") from None
    if not math.isfinite(x) or x < 0 or (positive and x == 0):
        raise ValueError(f"{name} must be a finite number of seconds "
                         f"{'> 0' if positive else '>= 0'}, not {x}")
    return x


_generated_new = StatCounters.__new__


def _checked_new(cls, sent_bytes=0, recv_bytes=0, sent_packets=0, recv_packets=0,
                 retransmits=0, tcp_established=0, tcp_closed=0):
    values = (sent_bytes, recv_bytes, sent_packets, recv_packets, retransmits,
              tcp_established, tcp_closed)
    # the fast path (a conversion makes one per record): plain ints in range
    if ({type(sent_bytes), type(recv_bytes), type(sent_packets), type(recv_packets),
         type(retransmits), type(tcp_established), type(tcp_closed)} == _INT_ONLY
            and min(values) >= 0 and max(values) < U64):
        return _new(cls, values)
    return _new(cls, [check_counter(v, name) for name, v in zip(cls._fields, values,
                                                                 strict=True)])


_INT_ONLY = {int}


# every field is a non-negative integer below 2**64: checked on construction (the
# arithmetic above builds its results with tuple.__new__, unchecked: they are sums and
# differences of checked values)
StatCounters.__new__ = _checked_new  # type: ignore[method-assign]

ZERO_COUNTERS = StatCounters()
"""The all-zero counters (a fresh baseline)."""
