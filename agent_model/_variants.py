"""Agent variants: the built-in ones and the extension point for user-written ones.

A variant changes the agent in at most two places, each a hook of :class:`AgentVariant`:

* :meth:`AgentVariant.on_baseline` runs inside ``update_conn_with_stats``'s baseline branch,
  after the underflow correction and before the baseline is updated (where the upstream
  workaround, ``dropStaleFlowFailures``, is called). It may replace ``conn.tcp_failures``
  and count telemetry.
* :meth:`AgentVariant.shipped_failures` is the encoder's choice of which failures of a shipped
  connection go into the payload (upstream ``FormatConnection``).

Everything else (conversion, deltas, the zero filter, closed-connection handling) is the agent's
and is the same in every variant.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from agent_model._connection import ConnectionStats
from agent_model._stats import StatCounters
from agent_model._telemetry import WINDOWS_LINGERING_FLOWS, TelemetryRecorder

__all__ = [
    "AGENT_VARIANTS",
    "AgentVariant",
    "UnknownAgentVariantError",
    "register_agent_variant",
    "resolve_agent_variant",
]


class AgentVariant:
    """Base class of an agent variant; the defaults are the agent before the workaround.

    Subclass it, override one or both hooks, and register the class by name with
    :func:`register_agent_variant` (or pass ``"package.module:ClassName"`` wherever a variant
    name is accepted). A variant is instantiated once per ``NetworkState`` with no arguments.
    """

    name: ClassVar[str] = "prefix"
    """A label for reports; a subclass that does not set one gets its class name."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__

    def on_baseline(
        self, conn: ConnectionStats, baseline: StatCounters, telemetry: TelemetryRecorder
    ) -> None:
        """Called for a connection that has a baseline, once ``conn.last`` is computed.

        ``baseline`` is the client's stored counters for the cookie (not yet replaced by
        ``conn.monotonic``). Assign ``conn.tcp_failures`` to change what is shipped; call
        ``telemetry.incr(name)`` to count. Default: nothing.
        """

    def shipped_failures(self, conn: ConnectionStats) -> Mapping[int, int]:
        """The failures the encoder ships for ``conn`` (already known to be shipped).

        Default (upstream): ``conn.tcp_failures`` whenever it is non-empty, whatever
        ``conn.last.tcp_closed`` says.
        """
        return conn.tcp_failures

    def __repr__(self) -> str:
        return f"<agent variant {self.name!r}>"


class PrefixVariant(AgentVariant):
    """The agent before the workaround: failures shipped on every poll where counters moved."""

    name = "prefix"


def drop_stale_flow_failures(
    conn: ConnectionStats, baseline: StatCounters, last: StatCounters, telemetry: TelemetryRecorder
) -> None:
    """The merged upstream workaround (``dropStaleFlowFailures``, ``state_windows.go``).

    A connection already reported closed (``baseline.tcp_closed > 0``) that brings no new close
    (``last.tcp_closed == 0``) but carries failures is a re-report of a lingering flow: count it
    in ``windows_lingering_flows`` and ship no failures for it. The zero filter is unchanged,
    so the counter moves even when the connection is then filtered.
    """
    if baseline.tcp_closed > 0 and last.tcp_closed == 0 and conn.tcp_failures:
        telemetry.incr(WINDOWS_LINGERING_FLOWS)
        conn.tcp_failures = {}


class WorkaroundVariant(AgentVariant):
    """The merged upstream workaround: drop the failures of a flow already reported closed."""

    name = "workaround"

    def on_baseline(
        self, conn: ConnectionStats, baseline: StatCounters, telemetry: TelemetryRecorder
    ) -> None:
        drop_stale_flow_failures(conn, baseline, conn.last, telemetry)


class EncoderGateVariant(AgentVariant):
    """The alternative discussed upstream: ship failures only with ``last.tcp_closed > 0``."""

    name = "encoder-gate"

    def shipped_failures(self, conn: ConnectionStats) -> Mapping[int, int]:
        return conn.tcp_failures if conn.last.tcp_closed > 0 else {}


VariantSpec = str | AgentVariant | type[AgentVariant]
_V = TypeVar("_V", bound=type[AgentVariant])

_REGISTRY: dict[str, type[AgentVariant]] = {}
AGENT_VARIANTS: Mapping[str, type[AgentVariant]] = MappingProxyType(_REGISTRY)
"""Registered variants by name (read-only view; add with :func:`register_agent_variant`)."""


class UnknownAgentVariantError(ValueError):
    """A variant name or ``module:Name`` that does not resolve to an agent variant."""


def register_agent_variant(
    name: str, variant: type[AgentVariant] | None = None, *, replace: bool = False
) -> Any:
    """Register ``variant`` (a class) under ``name``; usable as a decorator.

    ``@register_agent_variant("my-fix")`` above a subclass of :class:`AgentVariant`, or
    ``register_agent_variant("my-fix", MyFix)``. A name already taken raises ``ValueError``
    unless ``replace=True``. Returns the class.
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"an agent variant name is a non-empty string without ':', not {name!r}")

    def register(cls: _V) -> _V:
        if not (isinstance(cls, type) and _is_variant(cls)):
            raise TypeError(
                f"{cls!r} is not an agent variant: subclass agent_model.AgentVariant "
                "and override on_baseline and/or shipped_failures"
            )
        if name in _REGISTRY and _REGISTRY[name] is not cls and not replace:
            raise ValueError(
                f"agent variant {name!r} is already registered ({_REGISTRY[name].__qualname__}); "
                "pass replace=True to replace it"
            )
        _REGISTRY[name] = cls
        return cls

    if variant is None:
        return register
    return register(variant)


def _is_variant(obj: Any) -> bool:
    return callable(getattr(obj, "on_baseline", None)) and callable(
        getattr(obj, "shipped_failures", None)
    )


def _known() -> str:
    return ", ".join(repr(n) for n in sorted(_REGISTRY))


def _instantiate(obj: Any, spec: str) -> AgentVariant:
    if isinstance(obj, type):
        if not _is_variant(obj):
            raise UnknownAgentVariantError(
                f"{spec!r} is {obj!r}, not an agent variant (subclass agent_model.AgentVariant)"
            )
        try:
            return obj()
        except TypeError as exc:
            raise UnknownAgentVariantError(
                f"cannot instantiate agent variant {spec!r} without arguments: {exc}"
            ) from None
    if _is_variant(obj):
        return obj  # type: ignore[no-any-return]
    raise UnknownAgentVariantError(
        f"{spec!r} is {obj!r}, not an agent variant (subclass agent_model.AgentVariant)"
    )


def resolve_agent_variant(spec: VariantSpec) -> AgentVariant:
    """Turn a variant spec into a variant instance.

    ``spec`` is a registered name (see :data:`AGENT_VARIANTS`), a ``"package.module:Name"``
    string (``Name`` a variant class or instance in that importable module; dotted attribute
    paths work), a variant class, or a variant instance. Raises
    :class:`UnknownAgentVariantError` (a ``ValueError``) naming the known variants.
    """
    if isinstance(spec, str):
        cls = _REGISTRY.get(spec)
        if cls is not None:
            return cls()
        if ":" in spec:
            return _instantiate(_import_object(spec), spec)
        raise UnknownAgentVariantError(
            f"unknown agent variant {spec!r}; known: {_known()} "
            "(or 'package.module:ClassName' for one of your own)"
        )
    return _instantiate(spec, repr(spec))


def _import_object(spec: str) -> Any:
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise UnknownAgentVariantError(
            f"{spec!r} is not of the form 'package.module:ClassName'; known names: {_known()}"
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownAgentVariantError(
            f"cannot import module {module_name!r} for agent variant {spec!r}: {exc}"
        ) from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UnknownAgentVariantError(
                f"module {module_name!r} has no attribute {attr_path!r} (agent variant {spec!r})"
            ) from None
    return obj


def baseline_hook(variant: AgentVariant) -> Callable[..., None] | None:
    """The variant's ``on_baseline`` hook, or None when it is the no-op default (fast path)."""
    if getattr(type(variant), "on_baseline", None) is AgentVariant.on_baseline:
        return None
    return variant.on_baseline


register_agent_variant(PrefixVariant.name, PrefixVariant)
register_agent_variant(WorkaroundVariant.name, WorkaroundVariant)
register_agent_variant(EncoderGateVariant.name, EncoderGateVariant)
