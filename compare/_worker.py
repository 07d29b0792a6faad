"""Child-process side of `flowrace validate`: every phase that runs a proposal's C code
runs here, so a proposal that crashes (SIGSEGV, abort) or hangs takes down this process,
never the validator. Protocol: ``python -m compare._worker PHASE`` with a JSON object on
stdin; the last stdout line is the JSON result.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _batch(args: dict[str, Any]) -> dict[str, Any]:
    from kernel_model import run_batch

    from .scenarios import get_scenario

    res = run_batch(args["driver"], get_scenario(args["scenario"]), args["executions"],
                    first_seed=args.get("first_seed", 1), strategy=args["strategy"],
                    pct_depth=args.get("depth", 2))
    return {"executions": res.executions, "violating": res.violating, "by_kind": res.by_kind,
            "first_seed_by_kind": res.first_seed_by_kind}


def _single(args: dict[str, Any]) -> dict[str, Any]:
    """One execution with the step log on: if it crashes, the log keeps its interleaving."""
    from kernel_model import load_variant, run

    from .scenarios import get_scenario

    variant = load_variant(args["driver"])
    fd = os.open(args["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    variant.lib.fr_set_step_log(fd)
    try:
        out = run(variant, get_scenario(args["scenario"]), seed=args.get("seed"),
                  strategy=args.get("strategy"), schedule=args.get("schedule"),
                  pct_depth=args.get("depth", 2))
    finally:
        variant.lib.fr_set_step_log(-1)
        os.close(fd)
    return {"kinds": sorted(out.kinds), "schedule": out.schedule}


def _explore(args: dict[str, Any]) -> dict[str, Any]:
    from kernel_model.explore import explore

    from .scenarios import get_scenario

    res = explore(args["driver"], get_scenario(args["scenario"]), strategy=args["strategy"],
                  max_executions=args.get("max_executions"),
                  time_budget=args.get("time_budget"), seed=args.get("seed", 1),
                  depth=args.get("depth", 2), out=args.get("out_dir"))
    return res.to_json()


def _explore_many(args: dict[str, Any]) -> dict[str, Any]:
    """Several explorations in one process (one start-up); a crash takes them all down,
    and the validator then runs them one by one to find which."""
    return {"results": [_explore(job) for job in args["jobs"]]}


def _rates(args: dict[str, Any]) -> dict[str, Any]:
    """Backend failure rate after every poll, per agent variant, for each driver on one
    identical interleaving (given by event labels)."""
    from agent_model import run_pipeline
    from agent_model._variants import AGENT_VARIANTS
    from kernel_model import run

    from .scenarios import get_scenario

    compiled = get_scenario(args["scenario"]).compile()
    order = [compiled.label_to_event(label) for label in args["events"]]
    series: dict[str, dict[str, list]] = {}
    for driver in args["drivers"]:
        out = run(driver, compiled, order=order)
        steps = out.agent_steps()
        series[driver] = {agent: list(run_pipeline(steps, variant=agent).rates)
                          for agent in AGENT_VARIANTS}
    return {"scenario": args["scenario"], "events": args["events"], "series": series}


def _matrix(args: dict[str, Any]) -> dict[str, Any]:
    from .matrix import Matrix

    matrix = Matrix(drivers=args["drivers"], agents=None, scenarios=args.get("scenarios"),
                    interleavings=args.get("interleavings", 200), seed=args.get("seed", 1),
                    sweep=args.get("sweep", 100))
    cells = matrix.run()
    proposal = matrix.drivers[0].name
    traces = args.get("traces")
    for cell in cells:
        if traces and cell.driver == proposal:
            matrix.replayable(cell, traces)
    return {"proposal": proposal, "cells": [c.to_json() for c in cells],
            "executions": matrix.stats.executions}


def _stress(args: dict[str, Any]) -> dict[str, Any]:
    from kernel_model import stress

    return stress(args["driver"], args["connections"], args.get("threads", 8),
                  seed=args.get("seed", 1)).to_json()


PHASES = {"batch": _batch, "single": _single, "explore": _explore,
          "explore-many": _explore_many, "matrix": _matrix, "stress": _stress, "rates": _rates}


def main() -> None:
    phase = sys.argv[1]
    args = json.loads(sys.stdin.read() or "{}")
    result = PHASES[phase](args)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
