"""Properties of StatCounters' Windows arithmetic (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_model import StatCounters

PLAIN = ("sent_bytes", "recv_bytes", "sent_packets", "recv_packets")
GATED = ("retransmits", "tcp_established", "tcp_closed")

# small values make equal and zero fields common; large ones check nothing wraps
values = st.one_of(st.integers(0, 3), st.integers(0, 2**64 - 1))
counters = st.builds(StatCounters, *([values] * 7))


@given(counters, counters)
def test_sub_then_add_recovers_the_value_when_there_is_no_underflow(
    a: StatCounters, b: StatCounters
) -> None:
    d, underflow = a.sub(b)
    if underflow:
        return
    for name in PLAIN:
        assert getattr(b, name) + getattr(d, name) == getattr(a, name)
    for name in GATED:
        if getattr(a, name) > 0:
            assert getattr(b, name) + getattr(d, name) == getattr(a, name)
        else:
            assert getattr(d, name) == 0
    if all(getattr(a, n) > 0 or getattr(b, n) == 0 for n in GATED):
        assert b.add(d) == a


@given(counters, st.sampled_from(PLAIN), st.integers(1, 2**32))
def test_any_decrease_of_a_byte_or_packet_counter_is_an_underflow(
    a: StatCounters, name: str, more: int
) -> None:
    baseline = a._replace(**{name: getattr(a, name) + more})

    assert a.sub(baseline) == (StatCounters(), True)


@given(counters, counters)
def test_no_field_decreasing_means_no_underflow(a: StatCounters, b: StatCounters) -> None:
    assert not a.max(b).sub(b)[1]


@given(counters, st.integers(1, 5))
def test_tcp_closed_at_zero_never_underflows_and_deltas_to_zero(
    a: StatCounters, baseline_closed: int
) -> None:
    current = a._replace(tcp_closed=0)
    d, underflow = current.sub(current._replace(tcp_closed=baseline_closed))

    assert not underflow
    assert d.tcp_closed == 0


@given(counters, st.integers(1, 5), st.integers(1, 5))
def test_tcp_closed_decreasing_from_above_zero_is_an_underflow(
    a: StatCounters, current_closed: int, more: int
) -> None:
    current = a._replace(tcp_closed=current_closed)

    assert current.sub(current._replace(tcp_closed=current_closed + more))[1]


@given(counters, counters)
def test_max_is_an_upper_bound_and_symmetric(a: StatCounters, b: StatCounters) -> None:
    m = a.max(b)

    assert m == b.max(a)
    assert all(x >= y and x >= z for x, y, z in zip(m, a, b, strict=True))
    assert a.max(a) == a


@given(counters, counters)
def test_add_is_commutative_with_zero_as_identity(a: StatCounters, b: StatCounters) -> None:
    assert a.add(b) == b.add(a)
    assert a.add(StatCounters()) == a


@given(counters)
def test_is_zero_only_for_all_zero(a: StatCounters) -> None:
    assert a.is_zero() == (a == StatCounters())


def test_the_gated_fields_follow_the_windows_rules() -> None:
    baseline = StatCounters(retransmits=2, tcp_established=1, tcp_closed=1)

    assert StatCounters(sent_bytes=5).sub(baseline) == (StatCounters(sent_bytes=5), False)
    assert StatCounters(retransmits=1).sub(baseline)[1]  # 1 < 2 with 1 > 0
    assert StatCounters(retransmits=3, tcp_closed=1).sub(baseline) == (
        StatCounters(retransmits=1),
        False,
    )


def test_counters_are_values() -> None:
    a = StatCounters(sent_bytes=1)

    with pytest.raises(AttributeError):
        a.sent_bytes = 2  # type: ignore[misc]
    with pytest.raises(TypeError, match="add"):
        _ = a + a
