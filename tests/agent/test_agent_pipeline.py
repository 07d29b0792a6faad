"""The driver -> agent -> backend pipeline, fed with kernel-model-like records and by hand."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agent_model import (
    Backend,
    ConnectionStats,
    EstablishedRule,
    PipelineError,
    StatCounters,
    run_pipeline,
)
from agent_model import driver_interface as di

OUT = di.FLOW_DIRECTION_OUTBOUND << di.FLOW_DIRECTION_SHIFT


def rec(cookie: int, sent: int, status: int, *, closed: bool = False, recv: int = 0):
    """A record with the attributes of the kernel model's FR_FLOW_RECORD."""
    return SimpleNamespace(
        handle=cookie,
        cookie=cookie,
        pid=4,
        family=di.AF_INET,
        protocol=di.IPPROTO_TCP,
        flags=OUT | (di.FLOW_CLOSED_MASK if closed else 0),
        local_addr=bytes(16),
        remote_addr=bytes(16),
        local_port=50000,
        remote_port=443,
        packets_in=1,
        packets_out=1,
        bytes_in=recv,
        bytes_out=sent,
        timestamp=0,
        rtt=0,
        rtt_var=0,
        retransmits=0,
        conn_status=status,
    )


def poll(client="c1", open=(), closed=(), time=None):
    return SimpleNamespace(kind="poll", client=client, time=time, open=list(open), closed=closed)


def lingering_run(polls: int = 3):
    """The canonical race outcome: a reset flow stuck in openFlows, its bytes still moving."""
    return [
        poll(open=[rec(0xCAFEBABE, 1500 * i, di.CONN_STAT_EST_RECV_RST, recv=200 * i)])
        for i in range(1, polls + 1)
    ]


def test_upstream_fixture_through_records() -> None:
    for variant, rates, suppressed in [
        ("prefix", (100.0, 200.0, 300.0), 0),
        ("workaround", (100.0, 100.0, 100.0), 2),
        ("encoder-gate", (100.0, 100.0, 100.0), 0),
    ]:
        result = run_pipeline(lingering_run(), variant, established_rule=EstablishedRule.PASSED)

        assert result.rates == rates, variant
        assert result.telemetry["windows_lingering_flows"] == suppressed
        assert result.variant == variant
        first = result.polls[0].delta[0]
        assert first.monotonic == StatCounters(
            sent_bytes=1500, recv_bytes=200, sent_packets=1, recv_packets=1,
            tcp_established=1, tcp_closed=1,
        )  # fmt: skip


def test_the_default_established_rule_gives_the_same_rates() -> None:
    assert run_pipeline(lingering_run(), "prefix").rates == (100.0, 200.0, 300.0)
    assert run_pipeline(lingering_run(), "workaround").failure_rate == 100.0


def test_a_normal_reset_flow_is_counted_once_in_every_variant() -> None:
    steps = [
        poll(open=[rec(1, 100, di.CONN_STAT_ESTABLISHED)]),
        poll(closed=[rec(1, 300, di.CONN_STAT_EST_RECV_RST, closed=True)]),
        poll(),
    ]
    for variant in ("prefix", "workaround", "encoder-gate"):
        result = run_pipeline(steps, variant)

        assert (result.closed, result.failures, result.failure_rate) == (1, 1, 100.0)
        assert result.failures_by_errno == {104: 1}
        assert result.telemetry["windows_lingering_flows"] == 0


def test_untimed_polls_are_thirty_seconds_apart() -> None:
    result = run_pipeline(lingering_run(3), "prefix")

    assert [p.time for p in result.polls] == [30.0, 60.0, 90.0]
    assert [p.client_id for p in result.polls] == ["c1"] * 3


def test_expire_step_makes_the_next_poll_a_first_poll() -> None:
    steps = [
        *lingering_run(2),
        SimpleNamespace(kind="expire", client="c1", time=None, open=[], closed=[]),
        poll(open=[rec(0xCAFEBABE, 9000, di.CONN_STAT_EST_RECV_RST)]),
    ]
    result = run_pipeline(steps, "workaround")

    assert result.expired_clients == ((60.0, "c1"),)
    assert result.polls[-1].time == 90.0
    last = result.polls[-1].payload.connections[0]
    assert (last.last.tcp_closed, dict(last.tcp_failures)) == (1, {104: 1})
    assert (result.closed, result.failures) == (2, 2)


def test_untimed_expire_leaves_the_other_clients_alone() -> None:
    steps = [
        poll("a", open=[rec(1, 100, di.CONN_STAT_ESTABLISHED)]),
        poll("b", open=[rec(1, 100, di.CONN_STAT_ESTABLISHED)]),
        {"kind": "expire", "client": "a"},
        poll("a", open=[rec(1, 150, di.CONN_STAT_ESTABLISHED)]),
        poll("b", open=[rec(1, 150, di.CONN_STAT_ESTABLISHED)]),
    ]
    result = run_pipeline(steps, "workaround")

    assert result.expired_clients == ((60.0, "a"),)
    # a starts again from no baseline; b keeps its own
    assert [p.payload.connections[0].last.sent_bytes for p in result.polls] == [100, 100, 150, 50]


def test_timed_expire_applies_the_two_minute_rule() -> None:
    steps = [poll("a", time=30.0), poll("b", time=100.0), {"kind": "expire", "time": 200.0}]

    assert run_pipeline(steps).expired_clients == ((200.0, "a"),)


def test_expire_step_too_early_is_an_error() -> None:
    steps = [poll(time=30.0), {"kind": "expire", "client": "c1", "time": 100.0}]

    with pytest.raises(PipelineError, match="not expired"):
        run_pipeline(steps)


def test_a_time_earlier_than_the_clock_runs_at_the_clock() -> None:
    """The kernel model times polls per client; the agent has a single clock."""
    steps = [poll("a", time=90.0), poll("b", time=30.0)]

    assert [p.time for p in run_pipeline(steps).polls] == [90.0, 90.0]


def test_polling_late_expires_by_time_alone() -> None:
    steps = lingering_run(1)
    steps.append(poll(open=[rec(0xCAFEBABE, 3000, di.CONN_STAT_EST_RECV_RST)], time=300.0))
    result = run_pipeline(steps, "workaround")

    assert result.expired_clients == ((300.0, "c1"),)
    assert result.rates == (100.0, 100.0)
    assert result.closed == 2


def test_restart_step_loses_the_baselines_and_registers_again() -> None:
    flow = 0xCAFEBABE
    steps = [
        *lingering_run(2),
        {"kind": "restart", "client": None, "time": None},
        poll(
            open=[rec(flow, 5000, di.CONN_STAT_EST_RECV_RST)],
            closed=[rec(2, 10, di.CONN_STAT_ACKRST, closed=True)],
        ),
    ]
    result = run_pipeline(steps, "workaround")

    shipped = {c.cookie: c for c in result.polls[-1].payload.connections}
    assert shipped[flow].last.tcp_closed == 1
    assert shipped[2].tcp_failures == {111: 1}  # registered before the drain was stored
    assert result.failures_by_errno == {104: 2, 111: 1}


def test_two_clients_share_the_closed_drain() -> None:
    steps = [
        poll("a", open=[rec(1, 100, di.CONN_STAT_ESTABLISHED)]),
        poll("b", open=[rec(1, 100, di.CONN_STAT_ESTABLISHED)]),
        poll("a", closed=[rec(1, 200, di.CONN_STAT_EST_SENT_RST, closed=True)]),
        poll("b"),
    ]
    result = run_pipeline(steps, "workaround")

    assert [(p.client_id, p.payload.closed, p.payload.failures) for p in result.polls] == [
        ("a", 0, 0),
        ("b", 0, 0),
        ("a", 1, 1),
        ("b", 1, 1),
    ]
    assert set(result.client_telemetry) == {"a", "b"}


def test_hand_built_connections_and_mapping_steps() -> None:
    conn = ConnectionStats(
        cookie=1, monotonic=StatCounters(sent_bytes=10, tcp_closed=1), tcp_failures={110: 1}
    )
    result = run_pipeline([{"kind": "poll", "client": "c1", "open": [conn]}], "prefix")

    assert result.failure_rate == 100.0
    assert result.failures_by_errno == {110: 1}
    assert conn.last == StatCounters()  # the input is not modified


def test_warn_lines_are_collected() -> None:
    result = run_pipeline(lingering_run(3), "workaround")

    assert result.warnings == ("State telemetry:  [1 Windows lingering flows suppressed]",) * 2


@pytest.mark.parametrize(
    ("steps", "match"),
    [
        ([{"kind": "pol", "client": "c1"}], "unknown kind 'pol'"),
        ([{"kind": "poll"}], "needs a client"),
        ([{"kind": "restart", "open": [object()]}], "carries records"),
    ],
)  # fmt: skip
def test_malformed_steps_are_clear_errors(steps, match: str) -> None:
    with pytest.raises(PipelineError, match=match):
        run_pipeline(steps)


def test_no_poll_gives_no_rate() -> None:
    result = run_pipeline([])

    assert (result.failure_rate, result.rates, result.closed) == (None, (), 0)


def test_backend_rate_is_none_until_a_close_is_shipped() -> None:
    backend = Backend()
    assert backend.failure_rate is None

    open_only = ConnectionStats(cookie=1, last=StatCounters(sent_bytes=5))
    payload = backend.ingest([open_only])
    assert (payload.closed, payload.failures, backend.failure_rate) == (0, 0, None)

    failed = ConnectionStats(cookie=2, last=StatCounters(tcp_closed=1), tcp_failures={111: 2})
    backend.ingest([failed])
    assert backend.rates == [None, 200.0]
    assert backend.failures_by_errno == {111: 2}
