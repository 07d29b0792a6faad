"""flowrace's kernel model: a C model of the driver's flow lifecycle (shim, engine,
driver core, variants) compiled with cffi, run under a deterministic scheduler or on
real threads.

    >>> from kernel_model import run
    >>> from kernel_model.scenarios import get_scenario
    >>> out = run("original", get_scenario("lingering-rst"), schedule="cpu0@late0.ref,cpu1*")
    >>> sorted(out.kinds)
    ['leak']
"""

from .errors import FlowraceError, ProposalBuildError, ScheduleError
from .execution import (
    AgentStep,
    FlowRecord,
    Outcome,
    PollRead,
    Step,
    Violation,
    load_trace,
    parse_schedule,
    replay,
    run,
    run_batch,
    save_trace,
)
from .scenario import (
    Actor,
    Classify,
    Delete,
    Expire,
    Flow,
    GroundTruth,
    LatePacket,
    Poll,
    Restart,
    Scenario,
)
from .stress import StressResult, stress
from .variants import Variant, builtin_names, load_variant

__all__ = [
    "Actor", "AgentStep", "Classify", "Delete", "Expire", "Flow", "FlowRecord", "FlowraceError",
    "GroundTruth", "LatePacket", "Outcome", "Poll", "PollRead", "ProposalBuildError", "Restart",
    "Scenario", "ScheduleError", "Step", "StressResult", "Variant", "Violation", "builtin_names",
    "load_trace", "load_variant", "parse_schedule", "replay", "run", "run_batch", "save_trace",
    "stress",
]
