"""NetworkState: per-client baselines, closed-connection buffers, deltas, expiry.

Upstream: ``pkg/network/state.go`` (``networkState``), and the order of one poll from the
Windows tracer's ``GetActiveConnections`` (``pkg/network/tracer/tracer_windows.go``). Method
names are the upstream ones in snake_case; each rule lives in the method named after it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

from agent_model._connection import ConnectionStats
from agent_model._encoder import Payload, encode_delta
from agent_model._stats import ZERO_COUNTERS, StatCounters, check_time
from agent_model._telemetry import (
    STATS_UNDERFLOWS,
    WINDOWS_LINGERING_FLOWS,
    TelemetryRecorder,
    warn_line,
)
from agent_model._variants import AgentVariant, VariantSpec, baseline_hook, resolve_agent_variant

__all__ = ["CLIENT_EXPIRY", "Delta", "NetworkState"]

log = logging.getLogger("agent_model")

CLIENT_EXPIRY = 120.0
"""Seconds of simulated time without a poll after which a client is removed (2 minutes)."""


class _Client:
    """Upstream ``client``: what the state keeps for one polling client."""

    __slots__ = ("closed_connections", "last_fetch", "stats", "telemetry")

    def __init__(self, now: float, telemetry: TelemetryRecorder) -> None:
        self.last_fetch = now
        # cookie -> this client's copy of a closed connection (insertion-ordered)
        self.closed_connections: dict[int, ConnectionStats] = {}
        # cookie -> baseline counters
        self.stats: dict[int, StatCounters] = {}
        self.telemetry = telemetry


class Delta(Sequence[ConnectionStats]):
    """The connections one poll ships for one client (upstream ``Delta.Conns``).

    A read-only sequence of :class:`ConnectionStats` (active ones first, then closed ones), each
    with ``.last`` and ``.tcp_failures`` as the agent state left them; :meth:`encode` gives the
    payload the variant's encoder would send.
    """

    __slots__ = ("_variant", "client_id", "conns", "time")

    def __init__(
        self, client_id: str, time: float, conns: list[ConnectionStats], variant: AgentVariant
    ) -> None:
        self.client_id = client_id
        self.time = time
        self.conns = conns
        self._variant = variant

    @overload
    def __getitem__(self, index: int) -> ConnectionStats: ...
    @overload
    def __getitem__(self, index: slice) -> list[ConnectionStats]: ...
    def __getitem__(self, index: int | slice) -> ConnectionStats | list[ConnectionStats]:
        return self.conns[index]

    def __len__(self) -> int:
        return len(self.conns)

    def __iter__(self) -> Iterator[ConnectionStats]:
        return iter(self.conns)

    def __repr__(self) -> str:
        return f"Delta(client_id={self.client_id!r}, time={self.time}, conns={self.conns!r})"

    def encode(self) -> Payload:
        """The payload of this poll, through the variant's encoder."""
        return encode_delta(self.conns, self._variant, client_id=self.client_id, time=self.time)


class NetworkState:
    """The agent's connection state across clients (upstream ``networkState``).

    ``variant`` is a registered name (``"prefix"``, ``"workaround"``, ``"encoder-gate"``, a
    user-registered one), a ``"package.module:Name"`` string, or a variant class or instance.

    Time is simulated, in seconds, starting at ``start_time``. It moves only when a method is
    given ``now=`` (and never backwards); ``client_expiry`` is the idle time after which
    :meth:`remove_expired_clients` removes a client.
    """

    def __init__(
        self,
        variant: VariantSpec = "workaround",
        *,
        client_expiry: float = CLIENT_EXPIRY,
        start_time: float = 0.0,
    ) -> None:
        self.variant: AgentVariant = resolve_agent_variant(variant)
        self.variant_name: str = (
            variant if isinstance(variant, str) else getattr(self.variant, "name", repr(variant))
        )
        """The name the variant was selected by (or its ``name`` attribute)."""
        self.client_expiry = check_time(client_expiry, "client_expiry", positive=True)
        self._now = check_time(start_time, "start_time")
        self._clients: dict[str, _Client] = {}
        self._on_baseline = baseline_hook(self.variant)
        self.telemetry: Counter[str] = Counter({WINDOWS_LINGERING_FLOWS: 0, STATS_UNDERFLOWS: 0})
        """Global telemetry counters (a ``Counter``: a name never incremented reads 0)."""
        self._client_telemetry: dict[str, Counter[str]] = {}
        self._last_logged: Counter[str] = Counter()
        self.warnings: list[str] = []
        """Warn-level telemetry lines, in order (also sent to the ``agent_model`` logger)."""

    # -- time and clients ---------------------------------------------------------------------

    @property
    def now(self) -> float:
        """The current simulated time, in seconds."""
        return self._now

    @property
    def clients(self) -> tuple[str, ...]:
        """Ids of the registered clients."""
        return tuple(self._clients)

    def _advance(self, now: float | None) -> float:
        if now is not None:
            now = check_time(now, "now")
            if now < self._now:
                raise ValueError(
                    f"simulated time went backwards: now={now} but the state is at {self._now}"
                )
            self._now = now
        return self._now

    def client_telemetry(self, client_id: str) -> Counter[str]:
        """Telemetry counted while polling for ``client_id`` (kept across expiry and restart)."""
        return Counter(self._client_telemetry.get(client_id, ()))

    def last_fetch(self, client_id: str) -> float | None:
        """Simulated time of the client's last poll (or registration); None if not registered."""
        client = self._clients.get(client_id)
        return client.last_fetch if client is not None else None

    def baselines(self, client_id: str) -> dict[int, StatCounters]:
        """A copy of the client's baselines by cookie (empty for an unknown client)."""
        client = self._clients.get(client_id)
        return dict(client.stats) if client is not None else {}

    def _get_client(self, client_id: str) -> _Client:
        """Upstream ``getClient``: the client, created (with no baselines) if unknown."""
        client = self._clients.get(client_id)
        if client is None:
            counters = self._client_telemetry.setdefault(client_id, Counter())
            client = _Client(self._now, TelemetryRecorder(self.telemetry, counters))
            self._clients[client_id] = client
        return client

    def register_client(self, client_id: str, *, now: float | None = None) -> None:
        """Start buffering closed connections for ``client_id`` (no-op if registered)."""
        self._advance(now)
        self._get_client(client_id)

    def remove_client(self, client_id: str) -> None:
        """Stop tracking ``client_id`` (upstream ``RemoveClient``)."""
        self._clients.pop(client_id, None)

    def remove_expired_clients(self, now: float | None = None) -> list[str]:
        """Remove the clients whose last poll is more than ``client_expiry`` before ``now``.

        Upstream: ``lastFetch + clientExpiry`` strictly before ``now``. Returns the removed ids.
        An expired client that polls again starts with no baselines (a first poll again).
        """
        now = self._advance(now)
        expiry = self.client_expiry
        expired = [cid for cid, c in self._clients.items() if c.last_fetch + expiry < now]
        for cid in expired:
            log.debug("expiring client: %s", cid)
            del self._clients[cid]
        return expired

    def restart(self, *, now: float | None = None) -> None:
        """The agent restarts: every client, baseline and buffered closed connection is lost.

        Telemetry counters are kept: they are the model's totals over the whole run (the real
        agent's counters would start again from 0).
        """
        self._advance(now)
        self._clients.clear()

    # -- closed connections -------------------------------------------------------------------

    def store_closed_connections(self, conns: Iterable[ConnectionStats]) -> None:
        """Store drained closed connections into the buffer of *every* registered client.

        Upstream ``storeClosedConnections``: a cookie already buffered is merged with
        :meth:`merge_connection_stats` (counters field-wise max, failures never merged).
        Buffer capacity (``maxClosedConns``) is not modelled.
        """
        conns = [_checked(c) for c in conns]
        for client in self._clients.values():
            buffered = client.closed_connections
            for c in conns:
                prev = buffered.get(c.cookie)
                if prev is not None:
                    self.merge_connection_stats(prev, c)
                else:
                    buffered[c.cookie] = c.copy()

    def store_closed_connection(self, conn: ConnectionStats) -> None:
        """One closed connection; see :meth:`store_closed_connections`."""
        self.store_closed_connections((conn,))

    @staticmethod
    def merge_connection_stats(a: ConnectionStats, b: ConnectionStats) -> None:
        """Merge ``b`` into ``a`` (same cookie): counters field-wise max, latest epoch.

        Upstream ``mergeConnectionStats``. ``tcp_failures`` are never merged: ``a`` keeps its
        own. Cookie collisions (same cookie, different tuple) are not modelled.
        """
        a.monotonic = a.monotonic.max(b.monotonic)
        a.last_update_epoch = max(a.last_update_epoch, b.last_update_epoch)

    # -- one poll -----------------------------------------------------------------------------

    def get_delta(
        self,
        client_id: str,
        active: Iterable[ConnectionStats] = (),
        *,
        closed: Iterable[ConnectionStats] | None = None,
        now: float | None = None,
    ) -> Delta:
        """One poll for ``client_id``: the connections it ships (upstream ``GetDelta``).

        ``active`` is the open-flows snapshot of this poll. The optional arguments replay the
        Windows tracer's ``GetActiveConnections`` around it, in its order: with ``now``, the
        clock moves and :meth:`remove_expired_clients` runs; with ``closed``, the drained
        closed connections are stored for every registered client
        (:meth:`store_closed_connections`); then the delta is computed for this client only.

        An unknown client is created here (as upstream ``getClient`` does) *after* the closed
        connections were stored, so it does not see those: register clients first.
        """
        if now is not None:
            self.remove_expired_clients(now)
        if closed is not None:
            self.store_closed_connections(closed)
        client = self._get_client(client_id)
        active_conns, closed_conns = self._merge_connections(client, active)
        client.closed_connections = {}  # client.Reset()
        delta = Delta(client_id, self._now, active_conns + closed_conns, self.variant)
        self.log_telemetry()
        return delta

    def _merge_connections(
        self, client: _Client, active: Iterable[ConnectionStats]
    ) -> tuple[list[ConnectionStats], list[ConnectionStats]]:
        """Upstream ``mergeConnections``: compute ``last`` of every connection, filter zeros.

        Closed connections are handled first; an active copy of a closed cookie is merged into
        the closed one and dropped (the closed one wins). Baselines are then replaced by those
        of the cookies seen active in this poll, so a closed connection loses its baseline.
        """
        client.last_fetch = self._now
        active_by_cookie = self._merge_by_cookie(active)
        update = self.update_conn_with_stats
        stats = client.stats

        closed_out: list[ConnectionStats] = []
        for cookie, closed_conn in client.closed_connections.items():
            active_conn = active_by_cookie.pop(cookie, None)
            if active_conn is not None:
                self.merge_connection_stats(closed_conn, active_conn)
            update(client, cookie, closed_conn)
            if not closed_conn.last.is_zero():
                closed_out.append(closed_conn)

        new_stats: dict[int, StatCounters] = {}
        active_out: list[ConnectionStats] = []
        for cookie, c in active_by_cookie.items():
            if cookie not in stats:  # createStatsForCookie
                stats[cookie] = ZERO_COUNTERS
            update(client, cookie, c)
            new_stats[cookie] = stats[cookie]
            if not c.last.is_zero():
                active_out.append(c)
        client.stats = new_stats
        return active_out, closed_out

    def _merge_by_cookie(self, conns: Iterable[ConnectionStats]) -> dict[int, ConnectionStats]:
        """Upstream ``mergeByCookie``: our own copies, duplicates of a cookie merged."""
        by_cookie: dict[int, ConnectionStats] = {}
        merge = self.merge_connection_stats
        for c in conns:
            if type(c) is not ConnectionStats:
                _checked(c)
            prev = by_cookie.get(c.cookie)
            if prev is None:
                by_cookie[c.cookie] = c.copy()
            else:
                merge(prev, c)
        return by_cookie

    def update_conn_with_stats(self, client: _Client, cookie: int, c: ConnectionStats) -> None:
        """Set ``c.last`` from the client's baseline for ``cookie`` (upstream same name).

        With a baseline: ``last = monotonic - baseline`` (Windows ``StatCounters.sub``); on
        underflow ``monotonic = max(monotonic, baseline)`` and subtract again; the variant's
        ``on_baseline`` hook runs; then the baseline becomes ``monotonic``. Without one:
        ``last = monotonic``.
        """
        sts = client.stats.get(cookie)
        if sts is None:
            c.last = c.monotonic
            return
        last, underflow = c.monotonic.sub(sts)
        if underflow:
            client.telemetry.incr(STATS_UNDERFLOWS)
            log.debug("stats underflow for cookie %d: baseline %s, counters %s", cookie, sts, c)
            c.monotonic = c.monotonic.max(sts)
            last, _ = c.monotonic.sub(sts)
        c.last = last
        if self._on_baseline is not None:
            self._on_baseline(c, sts, client.telemetry)
        client.stats[cookie] = c.monotonic

    # -- telemetry ----------------------------------------------------------------------------

    def log_telemetry(self) -> str | None:
        """Emit the warn line for counters that moved since the previous line (if any).

        Upstream ``logTelemetry``, which runs once per poll. Returns the line, or None.
        """
        deltas = {
            name: value - self._last_logged[name]
            for name, value in self.telemetry.items()
            if value != self._last_logged[name]
        }
        self._last_logged = Counter(self.telemetry)
        line = warn_line(deltas)
        if line is not None:
            self.warnings.append(line)
            log.warning(line)
        return line


def _checked(c: object) -> ConnectionStats:
    if not isinstance(c, ConnectionStats):
        raise TypeError(
            f"expected an agent_model.ConnectionStats, got {type(c).__name__}: convert driver "
            "records with agent_model.convert_record first"
        )
    return c
