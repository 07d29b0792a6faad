"""Agent telemetry: the counters a poll increments and the warn line that reports them.

Upstream: ``pkg/network/state.go`` (``stateTelemetry``, ``logTelemetry``). Counters are kept
globally (``NetworkState.telemetry``) and, for the model's benefit, per client.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

__all__ = ["STATS_UNDERFLOWS", "WINDOWS_LINGERING_FLOWS", "TelemetryRecorder", "warn_line"]

WINDOWS_LINGERING_FLOWS = "windows_lingering_flows"
"""Incremented by the workaround each time it drops the failures of a lingering flow."""
STATS_UNDERFLOWS = "stats_underflows"
"""Incremented by ``update_conn_with_stats`` on each underflow correction."""


class TelemetryRecorder:
    """What a variant hook is handed to count things: the global and the polling client's."""

    __slots__ = ("_client", "_global")

    def __init__(self, global_counters: Counter[str], client_counters: Counter[str]) -> None:
        self._global = global_counters
        self._client = client_counters

    def incr(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name``, globally and for the polling client."""
        self._global[name] += n
        self._client[name] += n


def warn_line(deltas: Mapping[str, int]) -> str | None:
    """The warn-level state-telemetry line for counter increases since the last line, or None.

    Upstream ``logTelemetry`` prints one Warnf line when a warn-level counter moved since its
    previous call; the workaround appends ``[N Windows lingering flows suppressed]``. The other
    fields of the real line (dropped connections, DNS/HTTP/Kafka stats) are not modelled and
    are left out.
    """
    suppressed = deltas.get(WINDOWS_LINGERING_FLOWS, 0)
    if suppressed <= 0:
        return None
    return f"State telemetry:  [{suppressed} Windows lingering flows suppressed]"
