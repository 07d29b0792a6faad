"""Agent variants: built-ins by name, user-written ones by registration and by 'module:Name'."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Mapping

import pytest

from agent_model import (
    AGENT_VARIANTS,
    AgentVariant,
    Backend,
    ConnectionStats,
    NetworkState,
    StatCounters,
    TelemetryRecorder,
    UnknownAgentVariantError,
    _variants,
    register_agent_variant,
    resolve_agent_variant,
    run_pipeline,
)


def lingering(i: int) -> ConnectionStats:
    return ConnectionStats(
        cookie=0xCAFEBABE,
        monotonic=StatCounters(sent_bytes=1500 * i, tcp_established=1, tcp_closed=1),
        tcp_failures={104: 1},
    )


def rates(variant) -> tuple[NetworkState, list[float | None]]:
    ns = NetworkState(variant)
    ns.register_client("c1")
    backend = Backend()
    for i in (1, 2, 3):
        backend.ingest(ns.get_delta("c1", active=[lingering(i)], now=30 * i))
    return ns, backend.rates


@pytest.fixture
def registry() -> Iterator[None]:
    """Leave the global registry as it was."""
    before = dict(_variants._REGISTRY)
    yield
    _variants._REGISTRY.clear()
    _variants._REGISTRY.update(before)


def test_the_built_ins_are_registered() -> None:
    assert {"prefix", "workaround", "encoder-gate"} <= set(AGENT_VARIANTS)
    assert resolve_agent_variant("workaround").name == "workaround"


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownAgentVariantError) as info:
        NetworkState(variant="wrokaround")

    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "'wrokaround'" in message
    for name in ("encoder-gate", "prefix", "workaround"):
        assert repr(name) in message
    assert "module:ClassName" in message


def test_a_registered_user_variant_runs_in_the_baseline_branch(registry: None) -> None:
    @register_agent_variant("drop-after-first")
    class DropAfterFirst(AgentVariant):
        """Drop failures of any flow already reported closed, whatever last.tcp_closed is."""

        def on_baseline(
            self, conn: ConnectionStats, baseline: StatCounters, telemetry: TelemetryRecorder
        ) -> None:
            if baseline.tcp_closed > 0 and conn.tcp_failures:
                telemetry.incr("dropped_by_user_variant")
                conn.tcp_failures = {}

    ns, series = rates("drop-after-first")

    assert series == [100.0, 100.0, 100.0]
    assert ns.telemetry["dropped_by_user_variant"] == 2
    assert ns.telemetry["windows_lingering_flows"] == 0
    assert ns.variant_name == "drop-after-first"
    assert AGENT_VARIANTS["drop-after-first"] is DropAfterFirst
    assert DropAfterFirst.name == "DropAfterFirst"


def test_a_user_encoder_hook_chooses_the_shipped_failures(registry: None) -> None:
    class NeverShipFailures(AgentVariant):
        def shipped_failures(self, conn: ConnectionStats) -> Mapping[int, int]:
            return {}

    register_agent_variant("never-ship", NeverShipFailures)
    _, series = rates("never-ship")

    assert series == [0.0, 0.0, 0.0]


def test_a_variant_class_or_instance_can_be_passed_directly() -> None:
    class Noop(AgentVariant):
        pass

    assert rates(Noop)[1] == [100.0, 200.0, 300.0]
    assert rates(Noop())[1] == [100.0, 200.0, 300.0]


def test_a_name_is_registered_once(registry: None) -> None:
    class A(AgentVariant):
        pass

    class B(AgentVariant):
        pass

    register_agent_variant("once", A)
    register_agent_variant("once", A)  # the same class again is fine
    with pytest.raises(ValueError, match="already registered"):
        register_agent_variant("once", B)
    register_agent_variant("once", B, replace=True)
    assert AGENT_VARIANTS["once"] is B


def test_only_variants_can_be_registered() -> None:
    with pytest.raises(TypeError, match="AgentVariant"):
        register_agent_variant("not-one", dict)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="':'"):
        register_agent_variant("a:b", AgentVariant)


USER_MODULE = """
from agent_model import AgentVariant

class GateOnClose(AgentVariant):
    name = "gate-on-close"

    def shipped_failures(self, conn):
        return conn.tcp_failures if conn.last.tcp_closed else {}

INSTANCE = GateOnClose()
NOT_A_VARIANT = 42

class Nested:
    Inner = GateOnClose
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch) -> str:
    (tmp_path / "my_agent_fix.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_agent_fix"


@pytest.mark.parametrize("attr", ["GateOnClose", "INSTANCE", "Nested.Inner"])
def test_module_colon_name_resolves(user_module: str, attr: str) -> None:
    ns, series = rates(f"{user_module}:{attr}")

    assert series == [100.0, 100.0, 100.0]
    assert ns.variant.name == "gate-on-close"


def test_module_colon_name_drives_the_pipeline(user_module: str) -> None:
    steps = [
        {"kind": "poll", "client": "c1", "time": None, "open": [lingering(i)], "closed": []}
        for i in (1, 2, 3)
    ]
    result = run_pipeline(steps, variant=f"{user_module}:GateOnClose")

    assert result.rates == (100.0, 100.0, 100.0)
    assert result.variant == f"{user_module}:GateOnClose"


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("my_agent_fix:Missing", "no attribute 'Missing'"),
        ("my_agent_fix:NOT_A_VARIANT", "not an agent variant"),
        ("no_such_module_for_flowrace:Fix", "cannot import module"),
        ("my_agent_fix:", "package.module:ClassName"),
    ],
)
def test_module_colon_name_errors_are_clear(user_module: str, spec: str, match: str) -> None:
    with pytest.raises(UnknownAgentVariantError, match=match):
        resolve_agent_variant(spec)
