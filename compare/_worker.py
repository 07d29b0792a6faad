"""Child-process side of `flowrace validate`: every phase that runs a proposal's C code
runs here, so a proposal that crashes (SIGSEGV, abort), exits, forks or hangs takes down
this process, never the validator.

Protocol: ``python -m compare._worker PHASE FD``, with ``{"key": HEX, "args": {...}}`` on
stdin. The result travels on file descriptor FD (a pipe the validator created), never on
stdout (the proposal may print anything there), as one frame: ``FRR1 <HMAC-SHA256 of the
payload under KEY, hex> <length>\n<payload JSON>``. The key is read before any proposal
code is loaded. A child that ends without a valid frame ended early: the validator makes
that a finding (see `compare.validate.run_child`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from typing import Any

MAGIC = b"FRR1"


def _batch(args: dict[str, Any]) -> dict[str, Any]:
    from kernel_model import run_batch
    from kernel_model.scenarios import get_scenario

    res = run_batch(args["driver"], get_scenario(args["scenario"]), args["executions"],
                    first_seed=args.get("first_seed", 1), strategy=args["strategy"],
                    pct_depth=args.get("depth", 2))
    return {"executions": res.executions, "violating": res.violating, "by_kind": res.by_kind,
            "first_seed_by_kind": res.first_seed_by_kind}


def _single(args: dict[str, Any]) -> dict[str, Any]:
    """One execution with the step log on: if it crashes, the log keeps its interleaving."""
    from kernel_model import load_variant, run
    from kernel_model.scenarios import get_scenario

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


#: the first of two exhaustive searches tried in turn gets this share of the time
EXHAUSTIVE_SHARE = 2 / 3


def _explore(args: dict[str, Any]) -> dict[str, Any]:
    """One exploration; its counterexamples written to out_dir, drawn (seconds each)
    only while `pictures_until` (time.time()) has not passed."""
    import time
    from pathlib import Path

    from kernel_model.explore import explore, write_outputs
    from kernel_model.scenarios import get_scenario

    # "a|b": the exhaustive searches in turn, a with EXHAUSTIVE_SHARE of the time, b with
    # what is left, until one completes or finds something
    strategies = args["strategy"].split("|")
    budget = args.get("time_budget")
    end = None if budget is None else time.monotonic() + budget
    for i, strategy in enumerate(strategies):
        last = i == len(strategies) - 1
        left = None if end is None else max(0.05, end - time.monotonic())
        res = explore(args["driver"], get_scenario(args["scenario"]), strategy=strategy,
                      max_executions=args.get("max_executions"),
                      time_budget=left if last or left is None else left * EXHAUSTIVE_SHARE,
                      seed=args.get("seed", 1), depth=args.get("depth", 2), out=None,
                      minimise_seconds=args.get("minimise_seconds", 5.0))
        if res.complete or res.counterexamples:
            break
    if args.get("out_dir") and (res.counterexamples or res.graph is not None):
        write_outputs(res, Path(args["out_dir"]),
                      pictures=time.time() < args.get("pictures_until", float("inf")))
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
    from kernel_model.scenarios import get_scenario

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
                  seed=args.get("seed", 1), max_seconds=args.get("max_seconds", 600.0)).to_json()


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
    from kernel_model.scenarios import get_scenario

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


def _build(args: dict[str, Any]) -> dict[str, Any]:
    """Compile the proposal into the cache without loading it (nothing of it runs)."""
    from kernel_model.variants import build_variant

    return {"module": str(build_variant(args["driver"]))}


def _load(args: dict[str, Any]) -> dict[str, Any]:
    """Load the compiled proposal (its constructors run here, not in the validator) and
    run one execution of one scenario."""
    from kernel_model import load_variant

    variant = load_variant(args["driver"])
    return {"sha256": variant.sha256}


#: the hook the harness calls for each kind of event
HOOKS = {"classify.ref": "FlowVariantClassifyReference",
         "classify.release": "FlowVariantClassifyDereference",
         "late.ref": "FlowVariantLookupReference",
         "late.release": "FlowVariantClassifyDereference",
         "delete": "FlowVariantDeleteNotify",
         "poll": "FlowVariantSweep or FlowVariantClosedDrained (a poll)",
         "settle": "FlowVariantSweep or FlowVariantClosedDrained (the settle poll)"}


def _where(args: dict[str, Any]) -> dict[str, Any]:
    """In which event (and hook) an interleaving's last step ran: the steps before it
    are run again (never the last one, which may crash or hang). The last step runs in
    the event the actor was in, or begins its next one."""
    import re

    from kernel_model import load_variant, run
    from kernel_model.execution import actor_names, compress_schedule
    from kernel_model.scenarios import get_scenario

    compiled = get_scenario(args["scenario"]).compile()
    names = actor_names(compiled)
    actors = args["actors"]
    a = actors[-1]
    if names[a] == "settle":
        return {"events": ["settle"], "hooks": [HOOKS["settle"]]}
    mine = [e.label for e in compiled.events if e.actor == a]
    last = ""
    if len(actors) > 1 and a in actors[:-1]:
        out = run(load_variant(args["driver"]), compiled,
                  schedule=compress_schedule(actors[:-1], names), max_steps=len(actors) - 1)
        seen = [st.event for st in out.steps if st.actor == names[a] and st.event]
        last = seen[-1] if seen else ""
    events = mine[mine.index(last):mine.index(last) + 2] if last in mine else mine[:1]

    def hook(label: str) -> str:
        kind = label.split(".", 1)[1] if "." in label else label
        return HOOKS.get(re.sub(r"\d+", "", kind), "")

    return {"events": events, "hooks": [hook(e) for e in events]}


def _forked() -> bool:
    """Whether this process has a child (the proposal forked): reaps those that ended."""
    found = False
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        found = True
        if pid == 0:
            return True


def _hunt(args: dict[str, Any]) -> dict[str, Any]:
    """Seeded random and PCT executions, one at a time, each announced in the progress
    file (scenario, strategy, seed) with the step log emptied: when one crashes, exits,
    or hangs (the validator sees the progress file stall), the two files say which
    execution and which interleaving. Stops at the first execution that forks."""
    import signal

    from kernel_model import load_variant, run
    from kernel_model.scenarios import get_scenario

    variant = load_variant(args["driver"])
    log = os.open(args["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    progress = os.open(args["progress"], os.O_WRONLY | os.O_CREAT, 0o600)
    variant.lib.fr_set_step_log(log)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    runs = 0
    try:
        for s_index, name in enumerate(args["scenarios"]):
            compiled = get_scenario(name).compile()
            for strategy, depth in (("random", 2), ("pct", 3)):
                for seed in range(1, args["executions"] + 1):
                    os.ftruncate(log, 0)
                    os.lseek(log, 0, os.SEEK_SET)
                    line = json.dumps({"scenario": name, "strategy": strategy, "depth": depth,
                                       "seed": seed, "index": s_index})
                    os.pwrite(progress, line.ljust(200).encode(), 0)
                    out = run(variant, compiled, seed=seed, strategy=strategy,
                              pct_depth=depth)
                    runs += 1
                    if _forked():
                        return {"forked": {"scenario": name, "strategy": strategy,
                                           "seed": seed}, "runs": runs}
                    if "livelock" in out.kinds:
                        break  # the search will report it; more such runs are slow
    finally:
        variant.lib.fr_set_step_log(-1)
        os.close(log)
        os.close(progress)
    return {"runs": runs}


PHASES = {"build": _build, "load": _load, "hunt": _hunt, "where": _where, "batch": _batch,
          "single": _single, "explore": _explore, "explore-many": _explore_many, "matrix": _matrix,
          "stress": _stress, "rates": _rates, "shrink": _shrink}


def frame(key: bytes, payload: bytes) -> bytes:
    mac = hmac.new(key, payload, hashlib.sha256).hexdigest().encode()
    return MAGIC + b" " + mac + b" " + str(len(payload)).encode() + b"\n" + payload


def parse_frame(key: bytes, data: bytes) -> dict[str, Any] | None:
    """The first frame in `data` whose HMAC checks, or None."""
    start = 0
    while (at := data.find(MAGIC + b" ", start)) >= 0:
        start = at + 1
        head, nl, rest = data[at:at + 120].partition(b"\n")
        parts = head.split(b" ")
        if not nl or len(parts) != 3 or not parts[2].isdigit():
            continue
        body_at = at + len(head) + 1
        payload = data[body_at:body_at + int(parts[2])]
        mac = hmac.new(key, payload, hashlib.sha256).hexdigest().encode()
        if len(payload) == int(parts[2]) and hmac.compare_digest(mac, parts[1]):
            try:
                doc = json.loads(payload)
            except ValueError:
                continue
            if isinstance(doc, dict):
                return doc
    return None


def main() -> None:
    from kernel_model._children import die_with_parent
    from kernel_model.errors import FlowraceError, ProposalBuildError

    die_with_parent()
    phase, fd = sys.argv[1], int(sys.argv[2])
    request = json.loads(sys.stdin.buffer.read() or b"{}")
    key = bytes.fromhex(request["key"])
    os.set_inheritable(fd, False)
    try:
        result: dict[str, Any] = {"ok": PHASES[phase](request["args"])}
    except ProposalBuildError as exc:
        result = {"build_error": exc.output, "source": str(exc.source)}
    except FlowraceError as exc:
        result = {"user_error": str(exc)}
    except Exception as exc:  # the validator's own failure: it shows the traceback
        import traceback

        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    result["forked"] = _forked()
    data = frame(key, json.dumps(result).encode())
    while data:
        data = data[os.write(fd, data):]
    os.close(fd)
    # no interpreter shutdown: atexit handlers and destructors a proposal registered
    # must not run (they would run after the result, and may print or crash)
    os._exit(0)


if __name__ == "__main__":
    main()
