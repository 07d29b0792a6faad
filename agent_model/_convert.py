"""Conversion of a driver flow record into a ConnectionStats.

Upstream: ``pkg/network/driver_interface_windows.go`` / ``event_windows.go``
(``FlowToConnStat``, ``isFlowClosed``, ``connDirection``, the TCP-failure map of the terminal
status). A record is anything with the attributes of ``FR_FLOW_RECORD`` (the kernel model's
records), or a ``Mapping`` with the same keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from agent_model import driver_interface as di
from agent_model._connection import ConnectionDirection, ConnectionStats, ConnectionTuple
from agent_model._stats import StatCounters

__all__ = ["STATUS_FAILURES", "EstablishedRule", "RecordError", "flow_to_conn_stat"]

ECONNRESET = 104
ECONNREFUSED = 111
ETIMEDOUT = 110

STATUS_FAILURES: Mapping[int, tuple[int, int]] = {
    di.CONN_STAT_EST_SENT_RST: (ECONNRESET, 1),
    di.CONN_STAT_EST_RECV_RST: (ECONNRESET, 1),
    di.CONN_STAT_ACKRST: (ECONNREFUSED, 1),
    di.CONN_STAT_TIMEOUT: (ETIMEDOUT, 1),
}
"""Terminal status -> the one ``(errno, count)`` failure it records."""


class EstablishedRule(StrEnum):
    """How ``tcp_established`` is derived from a record (a free parameter of the model).

    * ``STATUS`` (default, upstream ``isTCPFlowEstablished``): 1 only if ``conn_status`` is
      ESTABLISHED; a reset flow therefore counts 0.
    * ``PASSED``: 1 for every status that passed establishment (ESTABLISHED, EST_SENT_RST,
      EST_RECV_RST), as the upstream regression fixture does for its reset flow.
    * ``FLAG``: 1 if ``TCP_FLOW_ESTABLISHED_MASK`` is set in ``flags`` (the older agent).
    """

    STATUS = "status"
    PASSED = "passed-establishment"
    FLAG = "flag"


def established_rule_of(value: EstablishedRule | str) -> EstablishedRule:
    """``value`` as an :class:`EstablishedRule`; a ``ValueError`` naming the valid ones if not."""
    try:
        return EstablishedRule(value)
    except ValueError:
        valid = ", ".join(repr(r.value) for r in EstablishedRule)
        raise ValueError(f"unknown established rule {value!r}; expected one of {valid}") from None


_PASSED_ESTABLISHMENT = frozenset(
    {di.CONN_STAT_ESTABLISHED, di.CONN_STAT_EST_SENT_RST, di.CONN_STAT_EST_RECV_RST}
)

_REQUIRED = (
    "cookie", "flags", "protocol", "bytes_in", "bytes_out", "packets_in", "packets_out",
)  # fmt: skip
_OPTIONAL_INT = (
    "handle", "pid", "family", "local_port", "remote_port", "timestamp", "retransmits",
    "conn_status",
)  # fmt: skip


class RecordError(ValueError):
    """A driver record cannot be converted (a missing or non-integer field)."""


_MISSING = object()


def _reader(record: Any) -> Any:
    """A ``get(name[, default])`` over a record object or a Mapping."""
    if isinstance(record, Mapping):
        lookup = record.get

        def get_item(name: str, default: Any = _MISSING) -> Any:
            value = lookup(name, _MISSING)
            if value is _MISSING:
                if default is _MISSING:
                    raise RecordError(f"driver record has no field {name!r}: {record!r}")
                return default
            return value

        return get_item

    def get_attr(name: str, default: Any = _MISSING) -> Any:
        value = getattr(record, name, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise RecordError(f"driver record has no field {name!r}: {record!r}")
            return default
        return value

    return get_attr


def _addr(value: Any) -> Any:
    if isinstance(value, bytearray | list | tuple):
        return bytes(value)
    return value


def connection_direction(flags: int) -> ConnectionDirection:
    """Direction from bits 8-9 of ``flags`` (upstream ``connDirection``: default OUTGOING)."""
    direction = (flags & di.FLOW_DIRECTION_MASK) >> di.FLOW_DIRECTION_SHIFT
    if direction & di.FLOW_DIRECTION_INBOUND:
        return ConnectionDirection.INCOMING
    return ConnectionDirection.OUTGOING


def flow_to_conn_stat(
    record: Any, established_rule: EstablishedRule | str = EstablishedRule.STATUS
) -> ConnectionStats:
    """Convert one driver record (upstream ``FlowToConnStat``) into a :class:`ConnectionStats`.

    * sent = ``bytes_out`` / ``packets_out``, recv = ``bytes_in`` / ``packets_in``;
      ``cookie`` = the record's cookie; ``last_update_epoch`` = its ``timestamp``;
    * TCP only (``protocol == 6``; upstream fills these under ``if connectionType == TCP``):
      ``retransmits``; ``tcp_failures`` a fresh map from the terminal status (EST_SENT_RST /
      EST_RECV_RST -> ``{104: 1}``, ACKRST -> ``{111: 1}``, TIMEOUT -> ``{110: 1}``);
      ``tcp_closed = 1`` if ``FLOW_CLOSED_MASK`` is set or a failure is recorded;
      ``tcp_established`` per ``established_rule`` (see :class:`EstablishedRule`).

    Raises :class:`RecordError` (a ``ValueError``) for a record missing a required field.
    """
    rule = established_rule_of(established_rule)
    get = _reader(record)
    try:
        cookie, flags, protocol, bytes_in, bytes_out, packets_in, packets_out = (
            int(get(name)) for name in _REQUIRED
        )
        handle, pid, family, local_port, remote_port, timestamp, retransmits, status = (
            int(get(name, 0)) for name in _OPTIONAL_INT
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, RecordError):
            raise
        raise RecordError(f"driver record has a non-integer field: {exc}") from None

    failures: dict[int, int] = {}
    retrans = established = closed = 0
    if protocol == di.IPPROTO_TCP:
        retrans = retransmits
        failure = STATUS_FAILURES.get(status)
        if failure is not None:
            failures[failure[0]] = failure[1]
        if flags & di.FLOW_CLOSED_MASK or failures:
            closed = 1
        if rule is EstablishedRule.STATUS:
            established = int(status == di.CONN_STAT_ESTABLISHED)
        elif rule is EstablishedRule.PASSED:
            established = int(status in _PASSED_ESTABLISHMENT)
        else:
            established = int(bool(flags & di.TCP_FLOW_ESTABLISHED_MASK))

    return ConnectionStats(
        cookie=cookie,
        monotonic=StatCounters(
            sent_bytes=bytes_out,
            recv_bytes=bytes_in,
            sent_packets=packets_out,
            recv_packets=packets_in,
            retransmits=retrans,
            tcp_established=established,
            tcp_closed=closed,
        ),
        tcp_failures=failures,
        last_update_epoch=timestamp,
        connection_tuple=ConnectionTuple(
            pid=pid,
            family=family,
            protocol=protocol,
            direction=connection_direction(flags),
            local_addr=_addr(get("local_addr", None)),
            remote_addr=_addr(get("remote_addr", None)),
            local_port=local_port,
            remote_port=remote_port,
        ),
        handle=handle,
    )
