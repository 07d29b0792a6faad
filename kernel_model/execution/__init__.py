"""Run one controlled execution of a driver variant on a scenario, and read the outcome."""

from .runner import (
    FLOW_FIELDS,
    MAX_SCHEDULE_CHARS,
    MAX_SCHEDULE_STEPS,
    MAX_TRACE_BYTES,
    OP_NAMES,
    RECORD_FIELDS,
    SETTLE,
    STRATEGIES,
    TRACE_FORMAT,
    VIOLATION_KINDS,
    WHERE,
    AgentStep,
    BatchResult,
    FlowRecord,
    LeanOutcome,
    LeanRunner,
    Outcome,
    PollRead,
    RunConfig,
    Step,
    Violation,
    _obj_name,  # noqa: F401  (not public: explore's engine and compare's matrix
    _poll_times,  # noqa: F401  use these four)
    _run_spec,  # noqa: F401
    _scenario_spec,  # noqa: F401
    actor_names,
    collect,
    compress_schedule,
    driver_fields,
    lean_record,
    load_trace,
    parse_schedule,
    pct_steps_for,
    record_key,
    replay,
    run,
    run_batch,
    save_trace,
    trace_document,
    trace_variant,
)

__all__ = [
    "FLOW_FIELDS", "MAX_SCHEDULE_CHARS", "MAX_SCHEDULE_STEPS", "MAX_TRACE_BYTES", "OP_NAMES",
    "RECORD_FIELDS", "SETTLE", "STRATEGIES", "TRACE_FORMAT", "VIOLATION_KINDS", "WHERE",
    "AgentStep", "BatchResult", "FlowRecord", "LeanOutcome", "LeanRunner", "Outcome", "PollRead",
    "RunConfig", "Step", "Violation", "actor_names", "collect", "compress_schedule",
    "driver_fields", "lean_record", "load_trace", "parse_schedule", "pct_steps_for",
    "record_key", "replay", "run", "run_batch", "save_trace", "trace_document", "trace_variant",
]
