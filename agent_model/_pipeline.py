"""Driver -> agent -> backend in one call: feed the polls of an execution through the agent.

A *step* is one event of the user-space side of an execution, in order. It is duck-typed (an
object with these attributes, or a Mapping with these keys):

``kind``   ``"poll"``, ``"restart"`` or ``"expire"``;
``client`` the polling client's id (required for ``"poll"``; optional for ``"expire"``);
``time``   simulated seconds, or None (a poll then comes ``poll_interval`` after the previous
           step; see :func:`run_pipeline` for the others). The agent has one clock: a time
           earlier than the previous step's is raised to it (the kernel model times polls
           per client);
``open``   the open-flows snapshot read by this poll: driver records or ``ConnectionStats``;
``closed`` the closed-flows drained by this poll: driver records or ``ConnectionStats``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agent_model._connection import ConnectionStats
from agent_model._convert import EstablishedRule, established_rule_of, flow_to_conn_stat
from agent_model._encoder import Backend, Payload
from agent_model._state import CLIENT_EXPIRY, Delta, NetworkState
from agent_model._variants import VariantSpec

__all__ = ["POLL_INTERVAL", "PipelineError", "PipelineResult", "PollOutcome", "run_pipeline"]

POLL_INTERVAL = 30.0
"""Seconds between two polls when a step carries no time (the agent polls every 30 s)."""

_KINDS = ("poll", "restart", "expire")


class PipelineError(ValueError):
    """A step sequence the pipeline cannot run (unknown kind, missing client, time reversed)."""


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """One poll: who polled when, what the state shipped, the payload, the rate after it."""

    client_id: str
    time: float
    delta: Delta
    payload: Payload
    rate: float | None


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """Everything the backend and the agent reported for one execution."""

    variant: str
    polls: tuple[PollOutcome, ...]
    failure_rate: float | None
    """Percent over the whole execution; None if no close was ever shipped."""
    closed: int
    failures_by_errno: Mapping[int, int]
    telemetry: Mapping[str, int]
    """Global agent telemetry (``windows_lingering_flows``, ``stats_underflows``, ...)."""
    client_telemetry: Mapping[str, Mapping[str, int]]
    warnings: tuple[str, ...]
    """Warn-level telemetry lines, in order."""
    expired_clients: tuple[tuple[float, str], ...]
    """``(time, client)`` for every client removed by expiry."""

    @property
    def payloads(self) -> tuple[Payload, ...]:
        return tuple(p.payload for p in self.polls)

    @property
    def rates(self) -> tuple[float | None, ...]:
        """The cumulative failure rate after each poll."""
        return tuple(p.rate for p in self.polls)

    @property
    def failures(self) -> int:
        return sum(self.failures_by_errno.values())


def _field(step: Any, name: str, default: Any = None) -> Any:
    if isinstance(step, Mapping):
        return step.get(name, default)
    return getattr(step, name, default)


def _connections(records: Iterable[Any] | None, rule: EstablishedRule) -> list[ConnectionStats]:
    if not records:
        return []
    return [r if isinstance(r, ConnectionStats) else flow_to_conn_stat(r, rule) for r in records]


def run_pipeline(
    steps: Iterable[Any],
    variant: VariantSpec = "workaround",
    *,
    established_rule: EstablishedRule | str = EstablishedRule.STATUS,
    poll_interval: float = POLL_INTERVAL,
    client_expiry: float = CLIENT_EXPIRY,
) -> PipelineResult:
    """Run ``steps`` (see the module docstring) through a fresh agent and backend.

    * ``poll``: the client is registered on its first poll (and on its first poll after a
      restart); then ``NetworkState.get_delta`` with the step's open records as active, its
      closed records as drained, at the step's time; the delta is encoded and ingested.
    * ``restart``: the agent restarts (all clients and baselines lost); clients register again
      on their next poll. No time passes unless the step says so.
    * ``expire``: without a time, the named client (without one: every client) is removed, as
      expiry removes a client that stopped polling for more than ``client_expiry``; the clock
      does not move, since the other clients kept polling meanwhile. With a time, the clock
      moves there and every client idle for more than ``client_expiry`` is removed; a named
      client still registered then is an error. An expired client is *not* registered again
      by the pipeline (the real process-agent does not know): its next poll recreates it after
      that poll's drained flows were stored, so it misses them, as upstream does.

    Polls themselves expire the clients idle too long at their time (``get_delta(now=)``).
    Every removal is listed in ``PipelineResult.expired_clients``.

    Raises :class:`PipelineError` (a ``ValueError``) for a malformed step.
    """
    rule = established_rule_of(established_rule)
    ns = NetworkState(variant, client_expiry=client_expiry)
    backend = Backend()
    registered: set[str] = set()
    polls: list[PollOutcome] = []
    expired: list[tuple[float, str]] = []
    t = 0.0

    def at(step_time: Any, default: float) -> float:
        return default if step_time is None else max(t, float(step_time))

    for index, step in enumerate(steps):
        kind = _field(step, "kind")
        client = _field(step, "client")
        step_time = _field(step, "time")
        if kind not in _KINDS:
            raise PipelineError(f"step {index}: unknown kind {kind!r}; expected one of {_KINDS}")
        if kind != "poll" and (_field(step, "open") or _field(step, "closed")):
            raise PipelineError(f"step {index}: a {kind!r} step carries records; only polls do")

        if kind == "poll":
            if client is None:
                raise PipelineError(f"step {index}: a poll needs a client")
            t = at(step_time, t + poll_interval)
            # get_delta(now=t) expires clients first; doing it here records who expired
            expired.extend((t, cid) for cid in ns.remove_expired_clients(t))
            if client not in registered:
                ns.register_client(client)
                registered.add(client)
            delta = ns.get_delta(
                client,
                _connections(_field(step, "open"), rule),
                closed=_connections(_field(step, "closed"), rule),
                now=t,
            )
            payload = backend.ingest(delta)
            polls.append(PollOutcome(client, t, delta, payload, backend.failure_rate))
        elif kind == "restart":
            t = at(step_time, t)
            ns.restart(now=t)
            registered.clear()
        elif step_time is None:  # expire, untimed: the client(s) stopped polling long enough
            for cid in [client] if client is not None else list(ns.clients):
                if cid in ns.clients:
                    ns.remove_client(cid)
                    expired.append((t, cid))
        else:  # expire at a given time: by the expiry rule
            t = at(step_time, t)
            expired.extend((t, cid) for cid in ns.remove_expired_clients(t))
            if client is not None and client in ns.clients:
                raise PipelineError(
                    f"step {index}: client {client!r} last polled at {ns.last_fetch(client)}, "
                    f"it is not expired at {t} (expiry {ns.client_expiry} s)"
                )

    return PipelineResult(
        variant=ns.variant_name,
        polls=tuple(polls),
        failure_rate=backend.failure_rate,
        closed=backend.closed,
        failures_by_errno=dict(backend.failures_by_errno),
        telemetry=dict(ns.telemetry),
        client_telemetry={
            cid: dict(ns.client_telemetry(cid)) for cid in dict.fromkeys(p.client_id for p in polls)
        },
        warnings=tuple(ns.warnings),
        expired_clients=tuple(expired),
    )
