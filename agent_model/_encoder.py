"""The encoder (one payload per poll) and the backend that turns payloads into a failure rate.

Upstream: the connection encoder (``pkg/network/encoding/marshal``, ``FormatConnection``:
``TcpFailuresByErrCode`` is set whenever the map is non-empty) and the backend's rate
``100 * sum(failures) / sum(Last.TCPClosed)`` over shipped connections.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_model._connection import ConnectionStats
from agent_model._stats import StatCounters, check_counter
from agent_model._variants import AgentVariant, PrefixVariant

__all__ = ["Backend", "EncodedConnection", "Payload", "encode_delta", "failure_rate"]

_DEFAULT_ENCODER = PrefixVariant()


@dataclass(slots=True, frozen=True)
class EncodedConnection:
    """One connection as shipped: its cookie, ``last`` counters and the failures sent."""

    cookie: int
    last: StatCounters
    tcp_failures: Mapping[int, int]


@dataclass(slots=True, frozen=True)
class Payload:
    """What one poll ships to the backend."""

    connections: tuple[EncodedConnection, ...]
    client_id: Any = None
    time: float | None = None
    closed: int = 0
    """Sum of ``last.tcp_closed`` over the shipped connections."""
    failures_by_errno: Mapping[int, int] = field(default_factory=dict)
    """Sum of the shipped failures, by errno."""

    @property
    def failures(self) -> int:
        """Total shipped failures."""
        return sum(self.failures_by_errno.values())


def encode_delta(
    conns: Iterable[ConnectionStats],
    variant: AgentVariant | None = None,
    *,
    client_id: Any = None,
    time: float | None = None,
) -> Payload:
    """Encode the shipped connections of one poll; ``variant`` picks the failures sent.

    Without a variant, the upstream encoder: failures shipped whenever non-empty.
    """
    shipped_failures = (variant if variant is not None else _DEFAULT_ENCODER).shipped_failures
    encoded: list[EncodedConnection] = []
    closed = 0
    by_errno: Counter[int] = Counter()
    for c in conns:
        failures = shipped_failures(c)
        failures = dict(failures) if failures else {}
        encoded.append(EncodedConnection(c.cookie, c.last, failures))
        closed += c.last.tcp_closed
        for errno, count in failures.items():
            by_errno[errno] += count
    return Payload(tuple(encoded), client_id, time, closed, dict(by_errno))


def failure_rate(failures: int, closed: int) -> float | None:
    """``100 * failures / closed``, or None when no close was shipped (the rate is undefined)."""
    if closed <= 0:
        return None
    return 100.0 * failures / closed


class Backend:
    """Accumulates payloads and reports the failure rate, in total and after every payload.

    ``failure_rate`` is ``100 * failures / closed`` over everything ingested so far, as a
    percentage; it is ``None`` while no close has been shipped (0/0 and n/0 are undefined).
    """

    def __init__(self) -> None:
        self.payloads: list[Payload] = []
        self.rates: list[float | None] = []
        """The cumulative failure rate after each ingested payload."""
        self.closed = 0
        """Total ``last.tcp_closed`` shipped."""
        self.failures_by_errno: Counter[int] = Counter()
        """Total failures shipped, by errno."""

    def ingest(self, delta: Any) -> Payload:
        """Ingest one poll: a :class:`Payload`, a ``Delta`` (encoded with its variant's
        encoder), or an iterable of :class:`ConnectionStats` (the upstream encoder).
        Returns the payload ingested."""
        if isinstance(delta, Payload):
            payload = delta
            check_counter(payload.closed, "payload.closed")
            for errno, count in dict(payload.failures_by_errno).items():
                check_counter(errno, "payload errno")
                check_counter(count, f"payload.failures_by_errno[{errno}]")
        elif callable(getattr(delta, "encode", None)):
            payload = delta.encode()
        else:
            payload = encode_delta(delta)
        self.payloads.append(payload)
        self.closed += payload.closed
        self.failures_by_errno.update(payload.failures_by_errno)
        self.rates.append(self.failure_rate)
        return payload

    @property
    def failures(self) -> int:
        """Total failures shipped."""
        return sum(self.failures_by_errno.values())

    @property
    def failure_rate(self) -> float | None:
        """Percent over everything ingested so far; None while no close was shipped."""
        return failure_rate(self.failures, self.closed)
