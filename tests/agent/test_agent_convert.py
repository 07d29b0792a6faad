"""Conversion of a driver record (the kernel model's FR_FLOW_RECORD) into a ConnectionStats."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agent_model import ConnectionDirection, EstablishedRule, RecordError, convert_record
from agent_model import driver_interface as di

INBOUND = di.FLOW_DIRECTION_INBOUND << di.FLOW_DIRECTION_SHIFT
OUTBOUND = di.FLOW_DIRECTION_OUTBOUND << di.FLOW_DIRECTION_SHIFT


def record(**fields):
    base = {
        "handle": 7,
        "cookie": 0xCAFEBABE,
        "pid": 1234,
        "family": di.AF_INET,
        "protocol": di.IPPROTO_TCP,
        "flags": OUTBOUND | di.TCP_FLOW_ESTABLISHED_MASK,
        "local_addr": bytes([10, 0, 0, 1] + [0] * 12),
        "remote_addr": bytes([10, 0, 0, 2] + [0] * 12),
        "local_port": 50000,
        "remote_port": 443,
        "packets_in": 3,
        "packets_out": 4,
        "bytes_in": 200,
        "bytes_out": 1500,
        "timestamp": 99,
        "rtt": 10,
        "rtt_var": 2,
        "retransmits": 1,
        "conn_status": di.CONN_STAT_ESTABLISHED,
    }
    base.update(fields)
    return SimpleNamespace(**base)


def test_counters_sent_is_out_and_recv_is_in() -> None:
    c = convert_record(record())

    assert c.cookie == 0xCAFEBABE
    assert c.handle == 7
    assert c.last_update_epoch == 99
    assert (c.monotonic.sent_bytes, c.monotonic.recv_bytes) == (1500, 200)
    assert (c.monotonic.sent_packets, c.monotonic.recv_packets) == (4, 3)
    assert c.monotonic.retransmits == 1
    assert c.connection_tuple.local_port == 50000
    assert c.connection_tuple.remote_addr[:4] == bytes([10, 0, 0, 2])


@pytest.mark.parametrize(
    ("status", "failures", "closed"),
    [
        (di.CONN_STAT_UNKNOWN, {}, 0),
        (di.CONN_STAT_ATTEMPTED, {}, 0),
        (di.CONN_STAT_ESTABLISHED, {}, 0),
        (di.CONN_STAT_ACKRST, {111: 1}, 1),
        (di.CONN_STAT_TIMEOUT, {110: 1}, 1),
        (di.CONN_STAT_EST_SENT_RST, {104: 1}, 1),
        (di.CONN_STAT_EST_RECV_RST, {104: 1}, 1),
    ],
)
def test_each_status_gives_its_failure_and_a_failure_closes(status, failures, closed) -> None:
    c = convert_record(record(conn_status=status))

    assert c.tcp_failures == failures
    assert c.monotonic.tcp_closed == closed


def test_closed_mask_closes_without_a_failure() -> None:
    c = convert_record(record(flags=OUTBOUND | di.FLOW_CLOSED_MASK))

    assert c.monotonic.tcp_closed == 1
    assert c.tcp_failures == {}


def test_failures_are_a_fresh_map_every_conversion() -> None:
    r = record(conn_status=di.CONN_STAT_EST_RECV_RST)
    a, b = convert_record(r), convert_record(r)

    assert a.tcp_failures == b.tcp_failures == {104: 1}
    assert a.tcp_failures is not b.tcp_failures


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (EstablishedRule.STATUS, {2: 1}),
        (EstablishedRule.PASSED, {2: 1, 5: 1, 6: 1}),
        ("passed-establishment", {2: 1, 5: 1, 6: 1}),
    ],
)
def test_established_rule_by_status(rule, expected) -> None:
    got = {
        s: convert_record(record(conn_status=s), rule).monotonic.tcp_established for s in range(7)
    }

    assert got == {s: expected.get(s, 0) for s in range(7)}


def test_established_rule_by_flag() -> None:
    with_flag = record(conn_status=di.CONN_STAT_EST_RECV_RST)
    without = record(flags=OUTBOUND, conn_status=di.CONN_STAT_ESTABLISHED)

    assert convert_record(with_flag, "flag").monotonic.tcp_established == 1
    assert convert_record(without, "flag").monotonic.tcp_established == 0


def test_unknown_established_rule_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown established rule .sometimes.; expected one of"):
        convert_record(record(), "sometimes")


@pytest.mark.parametrize(
    ("flags", "direction"),
    [
        (INBOUND, ConnectionDirection.INCOMING),
        (OUTBOUND, ConnectionDirection.OUTGOING),
        (0, ConnectionDirection.OUTGOING),  # upstream connDirection's default
        (INBOUND | di.FLOW_CLOSED_MASK, ConnectionDirection.INCOMING),
    ],
)
def test_direction_from_bits_8_and_9(flags: int, direction: ConnectionDirection) -> None:
    assert convert_record(record(flags=flags)).connection_tuple.direction is direction


def test_udp_has_no_tcp_fields() -> None:
    c = convert_record(
        record(
            protocol=di.IPPROTO_UDP,
            flags=di.FLOW_CLOSED_MASK,
            conn_status=di.CONN_STAT_EST_RECV_RST,
        )
    )

    assert c.tcp_failures == {}
    assert (c.monotonic.tcp_closed, c.monotonic.tcp_established, c.monotonic.retransmits) == (
        0,
        0,
        0,
    )
    assert c.monotonic.sent_bytes == 1500


def test_a_mapping_record_converts_like_an_object() -> None:
    r = record(conn_status=di.CONN_STAT_ACKRST)

    assert convert_record(vars(r)) == convert_record(r)


def test_missing_field_is_named() -> None:
    r = vars(record())
    del r["bytes_out"]

    with pytest.raises(RecordError, match="bytes_out"):
        convert_record(r)
    with pytest.raises(RecordError, match="cookie"):
        convert_record(SimpleNamespace(flags=0))


def test_interface_constants() -> None:
    assert (di.FLOW_CLOSED_MASK, di.TCP_FLOW_ESTABLISHED_MASK) == (0x10, 0x20)
    assert di.FLOW_DIRECTION_MASK == 0x300
    assert [int(s) for s in di.ConnStatus] == list(range(7))
    assert (di.IPPROTO_TCP, di.IPPROTO_UDP) == (6, 17)
