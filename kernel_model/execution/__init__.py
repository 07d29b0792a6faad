"""One controlled execution of a driver variant on a scenario, and what it returned.

    outcome    what an execution returned: steps, violations, poll reads (`Outcome`)
    schedule   the ``--schedule SPEC`` syntax: parse, and compress an execution's own
    runner     run one execution in the C engine (`run`) and collect what it recorded
    trace      save, load (every field checked) and replay an execution
    batch      many executions from one call: `run_batch` in C, the lean `LeanRunner`

Every name is importable from here as before the split (`kernel_model.execution.run`).
"""

from .batch import (
    RECORD_FIELDS,
    BatchResult,
    LeanOutcome,
    LeanRunner,
    lean_record,
    record_key,
    run_batch,
)
from .outcome import (
    OP_NAMES,
    SETTLE,
    VIOLATION_KINDS,
    WHERE,
    AgentStep,
    FlowRecord,
    Outcome,
    PollRead,
    Step,
    Violation,
)
from .runner import (
    FLOW_FIELDS,
    STRATEGIES,
    RunConfig,
    _obj_name,  # noqa: F401  (not public: explore's engine and compare's matrix
    _poll_times,  # noqa: F401  use these four)
    _run_spec,  # noqa: F401
    _scenario_spec,  # noqa: F401
    collect,
    pct_steps_for,
    run,
)
from .schedule import (
    MAX_SCHEDULE_CHARS,
    MAX_SCHEDULE_STEPS,
    actor_names,
    compress_schedule,
    parse_schedule,
)
from .trace import (
    MAX_TRACE_BYTES,
    TRACE_FORMAT,
    driver_fields,
    load_trace,
    replay,
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
