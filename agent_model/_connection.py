"""ConnectionStats: one connection as the agent's state sees it.

Upstream: ``pkg/network/event_common.go`` (``ConnectionStats``, ``ConnectionTuple``). Only the
fields the modelled rules read are kept; see README.md for what is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from agent_model._stats import U64, ZERO_COUNTERS, StatCounters, check_counter

__all__ = ["ConnectionDirection", "ConnectionStats", "ConnectionTuple"]

_blank = object.__new__


class ConnectionDirection(IntEnum):
    """Direction of a connection (upstream ``ConnectionDirection``)."""

    INCOMING = 1
    OUTGOING = 2
    NONE = 4


@dataclass(slots=True, frozen=True)
class ConnectionTuple:
    """Identity fields of a connection; informative only (the state keys on the cookie)."""

    pid: int = 0
    family: int = 0
    protocol: int = 0
    direction: ConnectionDirection = ConnectionDirection.NONE
    local_addr: Any = None
    remote_addr: Any = None
    local_port: int = 0
    remote_port: int = 0


@dataclass(slots=True)
class ConnectionStats:
    """A connection: cookie, monotonic counters, TCP failures, and ``last`` once computed.

    ``monotonic`` holds the counters as read from the driver; ``last`` is the delta since the
    polling client's baseline (set by ``NetworkState.get_delta``). ``tcp_failures`` maps an errno
    to a count and is a fresh map on every conversion; it is never merged between copies.

    ``NetworkState`` works on its own copies: the connections you pass in are never modified.
    Treat ``tcp_failures`` as a value too (assign a new dict rather than mutate it).
    """

    cookie: int
    monotonic: StatCounters = ZERO_COUNTERS
    tcp_failures: dict[int, int] = field(default_factory=dict)
    last: StatCounters = ZERO_COUNTERS
    last_update_epoch: int = 0
    connection_tuple: ConnectionTuple | None = None
    handle: int = 0

    def __post_init__(self) -> None:
        if type(self.cookie) is not int or not 0 <= self.cookie < U64:
            self.cookie = check_counter(self.cookie, "cookie")
        for name in ("monotonic", "last"):
            if not isinstance(getattr(self, name), StatCounters):
                raise TypeError(f"{name} must be a StatCounters, not "
                                f"{type(getattr(self, name)).__name__}")
        failures = self.tcp_failures
        if failures is None:
            self.tcp_failures = {}
        elif failures:
            if not isinstance(failures, dict):
                raise TypeError(f"tcp_failures must be a dict errno -> count, not "
                                f"{type(failures).__name__}")
            for errno, count in failures.items():
                check_counter(errno, "tcp_failures errno")
                check_counter(count, f"tcp_failures[{errno}]")

    def copy(self) -> ConnectionStats:
        """An independent copy (its own ``tcp_failures`` map; counters are values)."""
        failures = self.tcp_failures
        c = _blank(ConnectionStats)  # its values were checked when self was made
        c.cookie = self.cookie
        c.monotonic = self.monotonic
        c.tcp_failures = dict(failures) if failures else {}
        c.last = self.last
        c.last_update_epoch = self.last_update_epoch
        c.connection_tuple = self.connection_tuple
        c.handle = self.handle
        return c
