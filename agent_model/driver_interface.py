"""The agent's view of the driver <-> user-space interface (DESIGN.md, "Public interface
constants").

This is the one place where ``agent_model`` spells the values it reads from a flow record. They
must equal the C header's (``c_src/fr_api.h``); a test outside this package checks that they do.
The names follow the header where it has one.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "AF_INET",
    "CONN_STAT_ACKRST",
    "CONN_STAT_ATTEMPTED",
    "CONN_STAT_ESTABLISHED",
    "CONN_STAT_EST_RECV_RST",
    "CONN_STAT_EST_SENT_RST",
    "CONN_STAT_TIMEOUT",
    "CONN_STAT_UNKNOWN",
    "FLOW_CLOSED_MASK",
    "FLOW_DIRECTION_INBOUND",
    "FLOW_DIRECTION_MASK",
    "FLOW_DIRECTION_OUTBOUND",
    "FLOW_DIRECTION_SHIFT",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "TCP_FLOW_ESTABLISHED_MASK",
    "ConnStatus",
]

# flags word of a flow record
FLOW_CLOSED_MASK = 0x10
"""Set on a record returned by the closed-flows drain."""
TCP_FLOW_ESTABLISHED_MASK = 0x20
"""Set once the TCP handshake completed."""
FLOW_DIRECTION_SHIFT = 8
"""Direction lives in bits 8-9 of ``flags``."""
FLOW_DIRECTION_MASK = 0x3 << FLOW_DIRECTION_SHIFT
FLOW_DIRECTION_INBOUND = 1
FLOW_DIRECTION_OUTBOUND = 2

# terminal / current TCP connection status carried by a record (``conn_status``)
CONN_STAT_UNKNOWN = 0
CONN_STAT_ATTEMPTED = 1
CONN_STAT_ESTABLISHED = 2
CONN_STAT_ACKRST = 3
CONN_STAT_TIMEOUT = 4
CONN_STAT_EST_SENT_RST = 5
CONN_STAT_EST_RECV_RST = 6


class ConnStatus(IntEnum):
    """``conn_status`` values, as an enum for readable reprs."""

    UNKNOWN = CONN_STAT_UNKNOWN
    ATTEMPTED = CONN_STAT_ATTEMPTED
    ESTABLISHED = CONN_STAT_ESTABLISHED
    ACKRST = CONN_STAT_ACKRST
    TIMEOUT = CONN_STAT_TIMEOUT
    EST_SENT_RST = CONN_STAT_EST_SENT_RST
    EST_RECV_RST = CONN_STAT_EST_RECV_RST


# ``protocol`` and ``family`` of a record (Windows values)
IPPROTO_TCP = 6
IPPROTO_UDP = 17
AF_INET = 2
"""Any other family is read as IPv6, as upstream ``connFamily`` does."""
