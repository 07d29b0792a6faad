"""A faithful Python model of the user-space agent that polls the flow driver.

Conversion of driver records, per-client deltas with the Windows counter rules, closed-
connection buffers, client expiry and restart, the upstream workaround and its alternatives
(agent variants), the encoder, and the backend's failure rate. See ``agent_model/README.md``
for the rule-by-rule map to the upstream Go agent.

    >>> from agent_model import NetworkState, ConnectionStats, StatCounters, Backend
    >>> ns = NetworkState(variant="workaround")
    >>> ns.register_client("c1")
    >>> conn = ConnectionStats(cookie=0xCAFEBABE,
    ...                        monotonic=StatCounters(sent_bytes=1500, recv_bytes=200,
    ...                                               tcp_established=1, tcp_closed=1),
    ...                        tcp_failures={104: 1})
    >>> delta = ns.get_delta("c1", active=[conn], now=30.0)
    >>> backend = Backend(); _ = backend.ingest(delta)
    >>> backend.failure_rate
    100.0
    >>> ns.telemetry["windows_lingering_flows"]
    0
"""

import logging

from agent_model._connection import ConnectionDirection, ConnectionStats, ConnectionTuple
from agent_model._convert import EstablishedRule, RecordError
from agent_model._convert import flow_to_conn_stat as convert_record
from agent_model._encoder import Backend, EncodedConnection, Payload
from agent_model._pipeline import PipelineError, PipelineResult, PollOutcome, run_pipeline
from agent_model._state import Delta, NetworkState
from agent_model._stats import StatCounters
from agent_model._telemetry import TelemetryRecorder
from agent_model._variants import (
    AGENT_VARIANTS,
    AgentVariant,
    UnknownAgentVariantError,
    register_agent_variant,
    resolve_agent_variant,
)

# a library does not print: warn lines go to NetworkState.warnings and to this logger
logging.getLogger("agent_model").addHandler(logging.NullHandler())

__all__ = [
    "AGENT_VARIANTS",
    "AgentVariant",
    "Backend",
    "ConnectionDirection",
    "ConnectionStats",
    "ConnectionTuple",
    "Delta",
    "EncodedConnection",
    "EstablishedRule",
    "NetworkState",
    "Payload",
    "PipelineError",
    "PipelineResult",
    "PollOutcome",
    "RecordError",
    "StatCounters",
    "TelemetryRecorder",
    "UnknownAgentVariantError",
    "convert_record",
    "register_agent_variant",
    "resolve_agent_variant",
    "run_pipeline",
]
