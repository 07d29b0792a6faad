"""NetworkState behaviour a user of the model relies on: lingering flows, clients, closed flows."""

from __future__ import annotations

import pytest

from agent_model import Backend, ConnectionStats, NetworkState, StatCounters

VARIANTS = ["prefix", "workaround", "encoder-gate"]
LINGER = 0xCAFEBABE


def lingering(sent: int, cookie: int = LINGER) -> ConnectionStats:
    """A reset flow left in the open table: closed and failed, its bytes at ``sent``."""
    return ConnectionStats(
        cookie=cookie,
        monotonic=StatCounters(sent_bytes=sent, recv_bytes=sent // 10, tcp_closed=1),
        tcp_failures={104: 1},
    )


def conn(cookie: int, sent: int, *, closed: int = 0, failures: dict[int, int] | None = None):
    return ConnectionStats(
        cookie=cookie,
        monotonic=StatCounters(sent_bytes=sent, tcp_established=1, tcp_closed=closed),
        tcp_failures=failures or {},
    )


def poll(ns: NetworkState, client: str, active, now: float, closed=None):
    delta = ns.get_delta(client, active=active, closed=closed, now=now)
    return [(c.cookie, c.last.tcp_closed, sum(c.tcp_failures.values())) for c in delta]


# -- a lingering flow whose counters are frozen --------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_frozen_lingering_flow_is_filtered_after_its_first_poll(variant: str) -> None:
    ns = NetworkState(variant)
    ns.register_client("c1")
    backend = Backend()
    shipped = []
    for i in (1, 2, 3):
        delta = ns.get_delta("c1", active=[lingering(1500)], now=30 * i)
        backend.ingest(delta)
        shipped.append(len(delta))

    assert shipped == [1, 0, 0]
    assert backend.rates == [100.0, 100.0, 100.0]


def test_workaround_counts_a_frozen_lingering_flow_even_though_it_is_filtered() -> None:
    ns = NetworkState("workaround")
    ns.register_client("c1")
    for i in (1, 2, 3):
        ns.get_delta("c1", active=[lingering(1500)], now=30 * i)

    assert ns.telemetry["windows_lingering_flows"] == 2


def test_frozen_then_moving_lingering_flow_shows_the_bug_only_when_it_moves() -> None:
    ns = NetworkState("prefix")
    ns.register_client("c1")
    sends = [1500, 1500, 1600, 1600, 1700]
    out = [poll(ns, "c1", [lingering(s)], 30 * i) for i, s in enumerate(sends, 1)]

    assert out == [[(LINGER, 1, 1)], [], [(LINGER, 0, 1)], [], [(LINGER, 0, 1)]]


# -- expiry and restart: the workaround's known limit ---------------------------------------------


def test_client_expiry_makes_the_next_poll_a_first_poll_again() -> None:
    ns = NetworkState("workaround")
    ns.register_client("c1")
    assert poll(ns, "c1", [lingering(1000)], 30) == [(LINGER, 1, 1)]
    assert poll(ns, "c1", [lingering(2000)], 60) == [(LINGER, 0, 0)]
    # more than 2 minutes without a poll
    assert poll(ns, "c1", [lingering(3000)], 60 + 121) == [(LINGER, 1, 1)]
    assert ns.telemetry["windows_lingering_flows"] == 1


def test_client_is_not_expired_at_exactly_two_minutes() -> None:
    ns = NetworkState("workaround")
    ns.register_client("c1")
    poll(ns, "c1", [lingering(1000)], 30)

    assert poll(ns, "c1", [lingering(2000)], 30 + 120) == [(LINGER, 0, 0)]
    assert ns.remove_expired_clients(30 + 120 + 120) == []  # polled at 150
    assert ns.remove_expired_clients(30 + 120 + 120.5) == ["c1"]


def test_restart_makes_the_next_poll_a_first_poll_again() -> None:
    ns = NetworkState("workaround")
    ns.register_client("c1")
    backend = Backend()
    for i in (1, 2):
        backend.ingest(ns.get_delta("c1", active=[lingering(1000 * i)], now=30 * i))
    ns.restart()
    ns.register_client("c1")
    delta = ns.get_delta("c1", active=[lingering(3000)], now=90)
    backend.ingest(delta)

    assert [(c.last.tcp_closed, c.tcp_failures) for c in delta] == [(1, {104: 1})]
    # one flow, one failure in truth; the backend saw two closes and two failures
    assert (backend.closed, backend.failures, backend.failure_rate) == (2, 2, 100.0)
    assert ns.clients == ("c1",)


def test_restart_loses_clients_baselines_and_buffered_closed_connections() -> None:
    ns = NetworkState("workaround")
    ns.register_client("c1")
    ns.get_delta("c1", active=[conn(1, 100)], now=30)
    ns.store_closed_connection(conn(2, 50, closed=1))
    ns.restart()

    assert ns.clients == ()
    assert ns.baselines("c1") == {}
    assert poll(ns, "c1", [], 60) == []


# -- several clients ----------------------------------------------------------------------------


def test_two_clients_each_see_the_first_poll_of_a_lingering_flow_once() -> None:
    ns = NetworkState("workaround")
    ns.register_client("c1")
    ns.register_client("c2")
    seen = {"c1": [], "c2": []}
    for i in range(1, 7):
        client = "c1" if i % 2 else "c2"
        seen[client] += poll(ns, client, [lingering(1000 * i)], 15 * i)

    assert seen["c1"] == [(LINGER, 1, 1), (LINGER, 0, 0), (LINGER, 0, 0)]
    assert seen["c2"] == [(LINGER, 1, 1), (LINGER, 0, 0), (LINGER, 0, 0)]
    assert ns.client_telemetry("c1")["windows_lingering_flows"] == 2
    assert ns.client_telemetry("c2")["windows_lingering_flows"] == 2
    assert ns.telemetry["windows_lingering_flows"] == 4


def test_closed_connections_are_stored_for_every_registered_client() -> None:
    ns = NetworkState("workaround")
    ns.register_client("c1")
    ns.register_client("c2")
    # c1's poll drains the closed table; c2 gets it on its own next poll
    assert poll(ns, "c1", [], 30, closed=[conn(7, 900, closed=1, failures={111: 1})]) == [(7, 1, 1)]
    assert poll(ns, "c2", [], 45) == [(7, 1, 1)]
    assert poll(ns, "c1", [], 60) == []


def test_an_unregistered_client_misses_the_closed_connections_of_its_first_poll() -> None:
    """Upstream stores drained flows before GetDelta creates an unknown client."""
    ns = NetworkState("workaround")
    ns.register_client("c1")

    assert poll(ns, "new", [], 30, closed=[conn(7, 900, closed=1)]) == []
    assert poll(ns, "c1", [], 60) == [(7, 1, 0)]


# -- closed and active copies, merging ----------------------------------------------------------


def test_closed_copy_beats_the_active_copy_of_the_same_cookie() -> None:
    ns = NetworkState("prefix")
    ns.register_client("c1")
    poll(ns, "c1", [conn(5, 1000)], 30)
    delta = ns.get_delta(
        "c1",
        active=[conn(5, 1300, failures={111: 1})],
        closed=[conn(5, 1200, closed=1, failures={104: 1})],
        now=60,
    )

    assert len(delta) == 1
    (shipped,) = delta
    assert shipped.monotonic.sent_bytes == 1300  # counters merged by field-wise max
    assert shipped.last == StatCounters(sent_bytes=300, tcp_established=0, tcp_closed=1)
    assert shipped.tcp_failures == {104: 1}  # the closed copy's own: never merged
    assert 5 not in ns.baselines("c1")  # reported closed: its baseline is gone


def test_closed_copies_buffered_twice_are_merged_but_not_their_failures() -> None:
    ns = NetworkState("prefix")
    ns.register_client("c1")
    ns.store_closed_connection(conn(9, 400, closed=1, failures={104: 1}))
    ns.store_closed_connection(conn(9, 300, closed=1, failures={110: 1}))
    (shipped,) = ns.get_delta("c1", now=30)

    assert shipped.monotonic.sent_bytes == 400
    assert shipped.tcp_failures == {104: 1}


def test_duplicate_active_copies_are_merged_by_max() -> None:
    ns = NetworkState("prefix")
    ns.register_client("c1")
    (shipped,) = ns.get_delta("c1", active=[conn(3, 10), conn(3, 30), conn(3, 20)], now=30)

    assert shipped.last.sent_bytes == 30


def test_a_connection_closed_after_being_active_ships_its_remainder() -> None:
    ns = NetworkState("workaround")
    ns.register_client("c1")
    poll(ns, "c1", [conn(4, 100)], 30)
    delta = ns.get_delta("c1", closed=[conn(4, 150, closed=1, failures={104: 1})], now=60)

    assert [(c.last.sent_bytes, c.last.tcp_closed, c.tcp_failures) for c in delta] == [
        (50, 1, {104: 1})
    ]
    assert ns.baselines("c1") == {}


def test_lingering_flow_finally_drained_is_suppressed_by_the_workaround_only() -> None:
    results = {}
    for variant in VARIANTS:
        ns = NetworkState(variant)
        ns.register_client("c1")
        poll(ns, "c1", [lingering(1000)], 30)
        results[variant] = poll(ns, "c1", [], 60, closed=[lingering(1100)])

    assert results == {
        "prefix": [(LINGER, 0, 1)],
        "workaround": [(LINGER, 0, 0)],
        "encoder-gate": [(LINGER, 0, 1)],  # the delta; its encoder drops the failure
    }


# -- baselines and underflow --------------------------------------------------------------------


def test_baselines_keep_only_the_cookies_active_in_the_last_poll() -> None:
    ns = NetworkState("prefix")
    ns.register_client("c1")
    poll(ns, "c1", [conn(1, 10), conn(2, 10)], 30)
    poll(ns, "c1", [conn(2, 20)], 60)

    assert set(ns.baselines("c1")) == {2}
    # cookie 1 comes back: no baseline, so all of its counters are reported again
    assert poll(ns, "c1", [conn(1, 15)], 90) == [(1, 0, 0)]
    assert ns.get_delta("c1", active=[conn(1, 15)], now=120).conns == []


def test_underflow_is_corrected_with_max_and_counted() -> None:
    ns = NetworkState("prefix")
    ns.register_client("c1")
    poll(ns, "c1", [conn(1, 1000)], 30)
    delta = ns.get_delta("c1", active=[conn(1, 400, closed=1)], now=60)

    assert [c.last for c in delta] == [StatCounters(tcp_closed=1)]
    assert delta[0].monotonic.sent_bytes == 1000
    assert ns.baselines("c1")[1].sent_bytes == 1000
    assert ns.telemetry["stats_underflows"] == 1


def test_zero_last_is_not_shipped_but_failures_do_not_count_for_the_test() -> None:
    ns = NetworkState("prefix")
    ns.register_client("c1")
    poll(ns, "c1", [conn(1, 100, closed=1, failures={104: 1})], 30)

    assert poll(ns, "c1", [conn(1, 100, closed=1, failures={104: 1})], 60) == []


# -- time and inputs ----------------------------------------------------------------------------


def test_time_cannot_go_backwards() -> None:
    ns = NetworkState("prefix")
    ns.get_delta("c1", now=60)

    with pytest.raises(ValueError, match="backwards"):
        ns.get_delta("c1", now=30)


def test_records_must_be_converted_first() -> None:
    ns = NetworkState("prefix")

    with pytest.raises(TypeError, match="convert_record"):
        ns.get_delta("c1", active=[{"cookie": 1}])


def test_delta_is_a_sequence_with_its_poll() -> None:
    ns = NetworkState("prefix")
    delta = ns.get_delta("c1", active=[conn(1, 10), conn(2, 20)], now=30)

    assert (delta.client_id, delta.time, len(delta)) == ("c1", 30.0, 2)
    assert [c.cookie for c in delta[:2]] == [1, 2]
