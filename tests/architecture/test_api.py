"""The Python API did not move with the code (issue 15): every name a module defined before
it was split, or moved, is still importable from it, as the same object."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: what each module defined itself before issue 15 (its own top-level names)
BEFORE = {
    "kernel_model.execution": [
        "VIOLATION_KINDS", "OP_NAMES", "STRATEGIES", "WHERE", "SETTLE", "FLOW_FIELDS",
        "FlowRecord", "Step", "Violation", "PollRead", "AgentStep", "Outcome", "actor_names",
        "MAX_SCHEDULE_STEPS", "MAX_SCHEDULE_CHARS", "MAX_TRACE_BYTES", "parse_schedule",
        "compress_schedule", "RunConfig", "collect", "pct_steps_for", "run", "TRACE_FORMAT",
        "driver_fields", "trace_document", "save_trace", "load_trace", "trace_variant",
        "replay", "BatchResult", "run_batch", "RECORD_FIELDS", "LeanOutcome", "lean_record",
        "record_key", "LeanRunner",
        # private, but other modules of the project import them from here
        "_scenario_spec", "_run_spec", "_obj_name", "_poll_times",
    ],
    "compare.matrix": [
        "DEFAULT_SWEEP", "SWEEP_STRATEGIES", "ExecutionRef", "Execution", "Cell",
        "cell_from_json", "DriverSpec", "default_drivers", "default_agents", "check_agent",
        "DriverScenario", "MatrixStats", "Matrix", "trace_name", "_AgentCache",
    ],
    "compare.validate": [
        "SMALL", "LARGE", "BEST_FIX", "RATE_EVENTS", "Reason", "Missing", "Phase",
        "Validation", "STALL_SECONDS", "RESULT_LIMIT", "ChildResult", "run_child", "run_phase",
        "GRACE", "REPORT_RESERVE", "STRESS_SECONDS", "hunt", "validate", "builtin_paths",
    ],
    "compare.scenarios": ["CAFEBABE", "get_scenario", "register_scenario", "rst_storm",
                          "scenario_names", "LINGERING_RST", "LATE_PACKETS", "CLEAN_CLOSE",
                          "RST_STORM", "SPLIT_DELETES", "PREEMPTED_HOLDER", "CLIENT_RESTART",
                          "TWO_CLIENTS"],
    "compare.interleavings": [
        "ENUMERATE_LIMIT", "DEFAULT_SAMPLE", "COUNT_STATE_LIMIT", "Interleavings",
        "count_interleavings", "enumerate_interleavings", "sample_interleavings",
        "interleavings_for",
    ],
    "kernel_model.explore": ["STRATEGY_NAMES", "make_strategy", "explore", "write_outputs",
                             "Counterexample", "ExploreResult"],
    "compare": ["Cell", "Interleavings", "Matrix", "Verdict", "count_interleavings",
                "get_scenario", "interleavings_for", "register_scenario", "scenario_names"],
    "compare.cli": ["main"],
}


@pytest.mark.parametrize("module", sorted(BEFORE))
def test_every_name_is_still_importable(module):
    m = importlib.import_module(module)
    missing = [n for n in BEFORE[module] if not hasattr(m, n)]
    assert missing == []


@pytest.mark.parametrize("module", sorted(BEFORE))
def test_a_name_is_one_object_wherever_it_is_imported_from(module):
    """A re-export is the object of the module that defines it now, not a copy."""
    m = importlib.import_module(module)
    for name in BEFORE[module]:
        value = getattr(m, name)
        if not isinstance(value, (type, types.FunctionType)):
            continue  # a constant has no home to look in
        home = value.__module__
        if home and home != module and home.split(".")[0] in ("kernel_model", "compare"):
            assert getattr(importlib.import_module(home), name) is value, (name, home)


def test_the_console_script_and_python_m_name_the_same_command():
    """pyproject's `flowrace = compare.cli:main` and `python -m compare.cli`."""
    text = (ROOT / "pyproject.toml").read_text()
    assert 'flowrace = "compare.cli:main"' in text
    from compare.cli import main
    from compare.cli.entry import main as entry_main

    assert main is entry_main
    proc = subprocess.run([sys.executable, "-m", "compare.cli", "list"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("drivers: "), proc.stderr
    assert set(main.commands) == {"compare", "explore", "list", "replay", "run", "sanitize",
                                  "stress", "validate"}


def test_every_package_is_installed():
    """A package left out of pyproject's list works from the checkout and is missing from
    an installed wheel: every directory with an __init__.py is listed."""
    text = (ROOT / "pyproject.toml").read_text()
    listed = text.split("packages = [", 1)[1].split("]", 1)[0]
    for top in ("kernel_model", "agent_model", "compare"):
        for init in (ROOT / top).rglob("__init__.py"):
            name = ".".join(init.parent.relative_to(ROOT).parts)
            assert f'"{name}"' in listed, name
