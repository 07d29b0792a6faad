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
    identical interleaving (given by event labels); with ``panels`` (a list of
    {scenario, events}), one such result per panel."""
    if "panels" in args:
        return {"panels": [_rates({"drivers": args["drivers"], **panel})
                           for panel in args["panels"]]}
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
    return {"scenario": args["scenario"], "events": args["events"], "series": series,
            "truth": compiled.scenario.ground_truth().rate}


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


def _shrink(args: dict[str, Any]) -> dict[str, Any]:
    """Minimise an interleaving that kills the process: each candidate runs in a
    process of its own (forked; it may crash too) with the step log on, and is kept
    when it dies of the same signal after fewer context switches, then fewer steps
    (never more of either than the input)."""
    import signal
    import tempfile
    import time

    from kernel_model.explore._engine import Target, run_actors
    from kernel_model.explore.minimise import shrink, switches

    from .scenarios import get_scenario

    target = Target.make(args["driver"], get_scenario(args["scenario"]))
    want, t_end = args["signal"], time.monotonic() + args.get("seconds", 10.0)
    runs = 0

    def attempt(candidate: list[int]) -> list[int] | None:
        """The steps the candidate ran before it died of `want`, or None."""
        nonlocal runs
        runs += 1
        fd, path = tempfile.mkstemp(suffix=".steps")
        try:
            pid = os.fork()
            if pid == 0:  # the candidate's own process: it never returns
                try:
                    target.lib.fr_set_step_log(fd)
                    signal.alarm(5)  # a candidate that hangs instead is not this crash
                    run_actors(target, candidate)
                finally:
                    os._exit(0)
            _, status = os.waitpid(pid, 0)
            died = os.WIFSIGNALED(status) and signal.Signals(os.WTERMSIG(status)).name == want
            with open(path, "rb") as f:
                return list(f.read()) if died else None
        finally:
            os.close(fd)
            os.unlink(path)

    best = attempt(args["actors"])
    if best is None:
        return {"actors": None, "runs": runs}
    first = best

    def better(got: list[int], than: list[int]) -> bool:
        return (switches(got) <= switches(first) and len(got) <= len(first)
                and (switches(got), len(got)) < (switches(than), len(than)))

    best = shrink(best, lambda steps: steps, attempt, better,
                  lambda: time.monotonic() < t_end)
    return {"actors": best, "runs": runs, "original_switches": switches(first),
            "original_steps": len(first), "switches": switches(best), "steps": len(best)}


PHASES = {"batch": _batch, "single": _single, "explore": _explore,
          "explore-many": _explore_many, "matrix": _matrix, "stress": _stress, "rates": _rates,
          "shrink": _shrink}


def main() -> None:
    phase = sys.argv[1]
    args = json.loads(sys.stdin.read() or "{}")
    result = PHASES[phase](args)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
