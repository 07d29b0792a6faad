"""StatCounters: the monotonic counters of one connection and the Windows arithmetic on them.

Upstream: ``pkg/network/event_common.go`` (``StatCounters``, ``Add``, ``Max``, ``IsZero``) and
``event_common_notlinux.go`` (``Sub``, the one built on Windows).
"""

from __future__ import annotations

from typing import NamedTuple, NoReturn

__all__ = ["ZERO_COUNTERS", "StatCounters"]

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


ZERO_COUNTERS = StatCounters()
"""The all-zero counters (a fresh baseline)."""
