"""The upstream regression test of the workaround, reproduced exactly (DESIGN.md section 1)."""

from __future__ import annotations

import pytest

from agent_model import Backend, ConnectionStats, NetworkState, StatCounters

COOKIE = 0xCAFEBABE


def fixture_conn(i: int, *, failures: bool = True) -> ConnectionStats:
    """Poll i of the upstream fixture: bytes grow, established and closed stay at 1."""
    return ConnectionStats(
        cookie=COOKIE,
        monotonic=StatCounters(
            sent_bytes=1500 * i, recv_bytes=200 * i, tcp_established=1, tcp_closed=1
        ),
        tcp_failures={104: 1} if failures else {},
    )


def run_fixture(variant: str, *, failures: bool = True) -> tuple[NetworkState, Backend]:
    ns = NetworkState(variant=variant)
    ns.register_client("c1")
    backend = Backend()
    for i in (1, 2, 3):
        backend.ingest(ns.get_delta("c1", active=[fixture_conn(i, failures=failures)], now=30 * i))
    return ns, backend


def shipped(backend: Backend) -> tuple[list[int], list[int]]:
    """Per poll: shipped last.tcp_closed and shipped failure count of the one connection."""
    closed, failed = [], []
    for payload in backend.payloads:
        (conn,) = payload.connections
        closed.append(conn.last.tcp_closed)
        failed.append(sum(conn.tcp_failures.values()))
    return closed, failed


def test_workaround_reports_the_lingering_flow_once() -> None:
    ns, backend = run_fixture("workaround")

    assert shipped(backend) == ([1, 0, 0], [1, 0, 0])
    assert backend.closed == 1
    assert backend.failures == 1
    assert backend.failure_rate == 100.0
    assert ns.telemetry["windows_lingering_flows"] == 2


def test_workaround_logs_the_suppressed_flows() -> None:
    ns, _ = run_fixture("workaround")

    assert ns.warnings == ["State telemetry:  [1 Windows lingering flows suppressed]"] * 2
    assert ns.warnings[-1].endswith("[1 Windows lingering flows suppressed]")
    assert ns.client_telemetry("c1")["windows_lingering_flows"] == 2


def test_prefix_counts_the_failure_again_on_every_poll() -> None:
    ns, backend = run_fixture("prefix")

    assert shipped(backend) == ([1, 0, 0], [1, 1, 1])
    assert backend.rates == [100.0, 200.0, 300.0]
    assert ns.telemetry["windows_lingering_flows"] == 0
    assert ns.warnings == []


def test_encoder_gate_ships_failures_only_with_a_close() -> None:
    ns, backend = run_fixture("encoder-gate")

    assert shipped(backend) == ([1, 0, 0], [1, 0, 0])
    assert backend.failure_rate == 100.0
    # the state is the prefix agent's: only the encoder differs
    assert ns.telemetry["windows_lingering_flows"] == 0


def test_encoder_gate_leaves_the_state_untouched() -> None:
    ns = NetworkState(variant="encoder-gate")
    ns.register_client("c1")
    ns.get_delta("c1", active=[fixture_conn(1)], now=30)
    delta = ns.get_delta("c1", active=[fixture_conn(2)], now=60)

    assert delta[0].tcp_failures == {104: 1}  # the delta still carries it
    assert delta.encode().failures == 0  # the payload does not


@pytest.mark.parametrize("variant", ["prefix", "workaround", "encoder-gate"])
def test_no_failures_leaves_the_counter_at_zero(variant: str) -> None:
    ns, backend = run_fixture(variant, failures=False)

    assert ns.telemetry["windows_lingering_flows"] == 0
    assert shipped(backend) == ([1, 0, 0], [0, 0, 0])
    assert backend.failure_rate == 0.0
    assert ns.warnings == []


def test_the_api_of_the_issue() -> None:
    """The snippet of issue 3, verbatim."""
    ns = NetworkState(variant="workaround")
    ns.register_client("c1")
    conn = ConnectionStats(
        cookie=0xCAFEBABE,
        monotonic=StatCounters(sent_bytes=1500, recv_bytes=200, tcp_established=1, tcp_closed=1),
        tcp_failures={104: 1},
    )
    delta = ns.get_delta("c1", active=[conn])
    backend = Backend()
    backend.ingest(delta)

    assert [(c.last.tcp_closed, c.tcp_failures) for c in delta] == [(1, {104: 1})]
    assert backend.failure_rate == 100.0
    assert ns.telemetry["windows_lingering_flows"] == 0
    # the connection passed in is not modified by the poll
    assert conn.last == StatCounters()


def test_the_package_docstring_example_runs() -> None:
    import doctest

    import agent_model

    assert doctest.testmod(agent_model).failed == 0
