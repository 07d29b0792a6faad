"""`flowrace validate PATH.c`: is this fix for flowdata.c right?

The gauntlet. The proposal is untrusted code: this process never loads it; every phase
runs in a child process (`compare._worker`, see `compare.child`) so that a proposal that
crashes, exits, hangs or forks is a finding, never the validator's death:

1. compile against the shim (a compile error: the compiler's messages, exit 2), then
   load it (its constructors run then);
2. smoke: seeded random and PCT executions of every scenario, one at a time (`hunt`):
   the first that crashes, exits, hangs or forks is located exactly;
3. an exhaustive search on every small scenario (complete, or as far as the budget
   goes): `dfs-stateful` with two thirds of its share, then, if it neither completed nor
   found anything, `dfs` with the rest (measured on the built-ins: the stateful search
   finishes the small scenarios first, up to 10x sooner where the reduced dfs needs
   hundreds of thousands of executions; the dfs wins on proposals with plain accesses,
   whose race-detector state the stateful search must carry); `pct` (depth 3) and
   `random` on the large ones (rst-storm: no exhaustive search completes it yet);
4. the comparison matrix on identical interleavings: the proposal beside `original` and
   the best built-in fix, against every agent variant;
5. a real-thread stress run (and the same for `original`, for the figures).

Verdict (`compare.verdict.overall`): FAIL when any phase found something the proposal is
to blame for, with the reasons, each with its minimised, replayable counterexample;
INCONCLUSIVE when nothing was found but some proof is missing (an exhaustive search ran
out of budget, a stress run timed out without a provable deadlock, the time budget cut a
phase short), naming each gap, how far it got and the command that finishes it; PASS only
when every exhaustive phase completed and nothing was found. A crash, exit or hang is
located by the smoke phase (or, when only the search met it, by a longer hunt): the
progress file names the execution and the engine's step log (written as it runs) its
interleaving; a crash's interleaving is then minimised (each candidate in a process of its
own) and saved as a trace. The whole run ends within the time budget plus GRACE seconds.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import time
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from kernel_model import FlowraceError, builtin_names
from kernel_model._checks import check_budget
from kernel_model.execution import TRACE_FORMAT, actor_names, compress_schedule
from kernel_model.scenarios import get_scenario

from .child import RESULT_LIMIT, STALL_SECONDS, ChildResult, run_child  # noqa: F401
from .findings import driver_findings
from .validation import Missing, Phase, Reason, Validation

SMALL = ("lingering-rst", "late-packets", "clean-close", "split-deletes", "preempted-holder",
         "client-restart", "two-clients")
LARGE = ("rst-storm",)
#: the exhaustive searches of the small scenarios, in turn (compare._worker._explore)
EXHAUSTIVE = "dfs-stateful|dfs"
BEST_FIX = "assoc-count"
#: the interleaving of late-packets where the shipped driver leaks and the agent before the
#: workaround ships the lingering flow's failure again: the rate plot's x-axis
RATE_EVENTS = ("cpu0.classify0.ref", "cpu0.classify0.release", "cpu0.late0.ref",
               "cpu1.delete0", "cpu1.delete1", "cpu1.delete2", "cpu1.delete3",
               "cpu0.late0.release", "agent.poll0", "cpu0.late1.ref", "cpu0.late1.release",
               "agent.poll1", "agent.poll2")


# ---- child processes (`compare.child`: run_child; here: run it locally or on a cluster) ---
_remote: ContextVar[Callable[..., ChildResult] | None] = ContextVar("validate_remote",
                                                                    default=None)


def run_phase(phase: str, args: dict[str, Any], timeout: float) -> ChildResult:
    """`run_child` here, or on the cluster `validate(cluster=...)` was given (the heavy
    phases: searches, the matrix, the rates, stress; each runs in a child process on its
    worker)."""
    remote = _remote.get()
    return run_child(phase, args, timeout) if remote is None else remote(phase, args, timeout)


#: what `validate --time-budget T` may take beyond T: start-up, the kill of a phase that
#: ran out of time, the report. It finishes within T + GRACE seconds.
GRACE = 25.0
#: kept for the report after the deadline
REPORT_RESERVE = 5.0
#: the stress run's watchdog (max_seconds) when the time budget leaves that much
STRESS_SECONDS = 120.0


class _Clock:
    """The validation's hard deadline: every child's time is cut to what is left."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic() - REPORT_RESERVE

    def cap(self, seconds: float) -> tuple[float, bool]:
        """(timeout for a child that wants `seconds`, whether the deadline cut it)."""
        left = self.left()
        return (seconds, False) if seconds <= left else (max(left, 0.0), True)


def _kind_of(res: ChildResult) -> str:
    if res.crash and res.crash.startswith("hung"):
        return "hang"
    if res.crash and res.crash.startswith("exited"):
        return "exit"
    return "crash"


def _child_or_reason(v: Validation, clock: _Clock, phase: str, args: dict[str, Any],
                     want: float, scenario: str | None) -> dict[str, Any] | None:
    """Run a phase in a child; what the proposal did to it (crash, exit, hang, fork)
    becomes a reason; a phase the deadline cut is recorded as cut short."""
    timeout, cut = clock.cap(want)
    if timeout <= 0:
        v.cut_short.append(f"{phase}: not run (time budget spent)")
        return None
    res = run_phase(phase, args, timeout)
    if res.forked:
        v.reasons.append(Reason(phase, "fork", scenario, _forked_detail(res, phase)))
    if res.ok:
        return res.value
    if res.crash and res.crash.startswith("failed:"):
        raise FlowraceError(f"validate: the {phase} phase {res.crash}\n" + res.stderr[-3000:])
    if res.timed_out and cut:
        v.cut_short.append(f"{phase}: cut short by the time budget")
        return None
    v.reasons.append(Reason(phase, _kind_of(res), scenario,
                            f"the proposal's code {res.crash} during {phase}"
                            + (f" on {scenario}" if scenario else "")))
    return None


def _forked_detail(res: ChildResult, phase: str) -> str:
    left = (f"; {res.leftovers} process(es) it started were still running and were killed"
            if res.leftovers else "")
    return f"the proposal's code started a process (fork) during {phase}{left}"


def hunt(v: Validation, clock: _Clock, driver: str, scenarios: list[str], phase: str,
         executions: int, want: float) -> Reason | None:
    """Seeded random and PCT executions of `scenarios`, one at a time in a child: the
    first that crashes, exits, hangs or forks becomes a reason with its interleaving
    (a crash's minimised) and a trace. None when every execution ran to its end."""
    timeout, cut = clock.cap(want)
    if timeout <= 1:
        v.cut_short.append(f"{phase}: not run (time budget spent)")
        return None
    work = Path(v.out) / ".validate"
    work.mkdir(parents=True, exist_ok=True)
    tag = _unique(work, f"{phase}", "")
    log, prog = work / f"{tag}.steps", work / f"{tag}.progress"
    prog.write_bytes(b"")
    res = run_child("hunt", {"driver": driver, "scenarios": scenarios, "log": str(log),
                             "progress": str(prog), "executions": executions}, timeout,
                    progress=prog)
    if res.ok and not (res.value or {}).get("forked") and not res.forked:
        return None
    if res.crash and res.crash.startswith("failed:"):
        raise FlowraceError(f"validate: the {phase} phase {res.crash}\n" + res.stderr[-3000:])
    if res.timed_out and not res.forked:
        # slow, not stuck (the progress file kept changing): no finding
        v.cut_short.append(f"{phase}: cut short by the time budget" if cut else
                           f"{phase}: did not finish within {timeout:.0f} s")
        return None
    try:
        where = json.loads(prog.read_bytes().decode(errors="replace").strip() or "{}")
    except ValueError:
        where = {}
    if res.ok:  # it forked: stopped at the first execution that did
        where = res.value["forked"] | {"depth": 2 if res.value["forked"]["strategy"] ==
                                       "random" else 3}
        reason = Reason(phase, "fork", where.get("scenario"), _forked_detail(res, phase))
    else:
        reason = Reason(phase, _kind_of(res), where.get("scenario"),
                        f"the proposal's code {res.crash} in phase {phase}"
                        + (f" on {where['scenario']}" if where.get("scenario") else ""))
        if res.forked:
            v.reasons.append(Reason(phase, "fork", where.get("scenario"),
                                    _forked_detail(res, phase)))
    if not where.get("scenario"):
        reason.detail += "; it happened before any execution began (while loading)"
        return reason
    _interleaving(v, clock, reason, driver, where, log.read_bytes() if log.exists() else b"",
                  res)
    return reason


def _interleaving(v: Validation, clock: _Clock, reason: Reason, driver: str,
                  where: dict[str, Any], steps: bytes, res: ChildResult) -> None:
    """Say which execution did it and save its interleaving as a trace."""
    scenario, strategy, seed = where["scenario"], where["strategy"], where["seed"]
    compiled = get_scenario(scenario).compile()
    names = actor_names(compiled)
    actors = [a for a in steps if a < len(names)]
    shrunk = ""
    signame = (res.crash or "").removeprefix("crashed with ")
    if reason.kind == "crash" and signame.startswith("SIG") and actors:
        timeout, _ = clock.cap(40.0)
        if timeout > 5:
            small = run_child("shrink", {"driver": driver, "scenario": scenario,
                                         "actors": actors, "signal": signame,
                                         "seconds": min(10.0, timeout / 3)}, timeout)
            if small.ok and small.value and small.value["actors"]:
                s = small.value
                actors = s["actors"]
                shrunk = (f" (minimised from {s['original_switches']} context switches / "
                          f"{s['original_steps']} steps to {s['switches']} / {s['steps']})")
    timeout, _ = clock.cap(20.0)
    if steps and timeout > 2 and reason.kind != "fork":  # a fork is seen after the run
        located = run_child("where", {"driver": driver, "scenario": scenario,
                                      "actors": list(steps)}, timeout)
        if located.ok and located.value.get("events"):
            reason.detail += " during " + " or at the start of ".join(
                e + (f" (in {h})" if h else "")
                for e, h in zip(located.value["events"], located.value["hooks"],
                                strict=True))
    schedule = compress_schedule(actors, names) if actors else ""
    trace = Path(v.out) / "counterexamples" / _unique(
        Path(v.out) / "counterexamples", f"{reason.kind}-{reason.phase}-{scenario}",
        ".trace.json")
    trace.parent.mkdir(parents=True, exist_ok=True)
    trace.write_text(json.dumps({
        "format": TRACE_FORMAT, "version": 1, **_source_fields(driver),
        "driver": driver, "scenario": scenario,
        "strategy": strategy, "seed": seed, "schedule": schedule,
        "violations": [], "crash": res.crash or reason.kind,
    }, indent=2) + "\n")
    reason.trace = str(trace)
    if reason.kind == "fork":
        at = f", in the execution {schedule}"
    elif actors:
        at = f", in step {len(actors) - 1} ({names[actors[-1]]}) of the interleaving {schedule}"
    else:
        at = ", before its first step"
    reason.detail += f"; {strategy} seed {seed} reproduces it{at}{shrunk}"


def _source_fields(driver: str) -> dict[str, Any]:
    """A trace's driver fields (execution.driver_fields), from the file: validate never
    loads the proposal in its own process."""
    import hashlib

    data = Path(driver).read_bytes()
    return {"driver_sha256": hashlib.sha256(data).hexdigest(),
            "driver_source": data.decode(errors="replace")}


def _unique(directory: Path, stem: str, suffix: str) -> str:
    """A file name in `directory` no other phase has taken: stem, stem-2, stem-3, ..."""
    name, k = f"{stem}{suffix}", 1
    while (directory / name).exists():
        k += 1
        name = f"{stem}-{k}{suffix}"
    return name


# ---- the gauntlet ------------------------------------------------------------------------
def _add_explore_reasons(v: Validation, phase: str, doc: dict[str, Any]) -> None:
    for cex in doc.get("counterexamples", []):
        viol = cex.get("violation", {})
        files = {k: cex[k] for k in ("timeline", "svg", "png") if k in cex}
        v.reasons.append(Reason(
            phase, cex["kind"], doc["scenario"],
            f"{viol.get('detail', '')} (minimised: {cex['preemptions']} preemption(s), "
            f"{cex['steps']} steps" + (f"; {cex['minimality']}" if cex.get("minimality")
                                      else "") + ")", cex.get("trace"), files))


def _matrix_args(driver: str, out: Path, interleavings: int, sweep: int) -> dict[str, Any]:
    return {"drivers": [driver, "original", BEST_FIX], "interleavings": interleavings,
            "sweep": sweep, "traces": str(out / "counterexamples" / "compare")}


def validate(path: str | Path, out: str | Path, *, time_budget: float = 120.0,
             connections: int = 10000, interleavings: int = 200, sweep: int = 100,
             progress: Callable[[str], None] | None = None,
             cluster: str | None = None) -> Validation:
    """Run the gauntlet on the proposal at `path`; write the evidence into `out`.
    `cluster`: a Dask scheduler's address; the heavy phases (the searches, the matrix, the
    rates, stress) are then tasks there (`compare._cluster.RemotePhases`), and `out` gets
    the files they wrote; building, loading and hunting a crash stay on this machine."""
    if cluster is None:
        return _validate(path, out, time_budget=time_budget, connections=connections,
                         interleavings=interleavings, sweep=sweep, progress=progress)
    from kernel_model.explore._cluster import cluster_address

    from ._cluster import RemotePhases

    address = cluster_address(cluster)
    if not Path(path).is_file():
        raise FlowraceError(f"no such driver proposal file: {path}")
    driver = str(Path(path).resolve())
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    remote = RemotePhases(address, driver, out)  # compiles here: a build error is exit 2
    budget = check_budget(time_budget, "time_budget")
    # the matrix does not wait for the others: it starts now, beside the explorations
    remote.prefetch("matrix", _matrix_args(driver, out, interleavings, sweep), budget + 120)
    say = progress or (lambda _msg: None)

    def told(msg: str) -> None:
        c = remote.describe()
        say(f"{msg} [cluster: {c['done']}/{c['parts']} phases done, {c['workers']} workers]")

    token = _remote.set(remote)
    try:
        v = _validate(path, out, time_budget=time_budget, connections=connections,
                      interleavings=interleavings, sweep=sweep, progress=told)
    finally:
        _remote.reset(token)
    v.cluster = remote.describe()
    (out / "validation.json").write_text(json.dumps(v.to_json(), indent=2) + "\n")
    return v


def _validate(path: str | Path, out: str | Path, *, time_budget: float, connections: int,
              interleavings: int, sweep: int,
              progress: Callable[[str], None] | None) -> Validation:
    """Nothing of the proposal runs in this process: it is compiled, loaded and run only in
    child processes (`run_child`, here or on a cluster's worker). The whole validation ends
    within `time_budget` + GRACE seconds; a phase the deadline cut is listed in
    `cut_short`."""
    t0 = time.monotonic()
    say = progress or (lambda _msg: None)
    time_budget = check_budget(time_budget, "time_budget")
    source = Path(path)
    if not source.is_file():
        raise FlowraceError(f"no such driver proposal file: {path}")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "counterexamples").mkdir(exist_ok=True)
    except OSError as exc:
        raise FlowraceError(f"cannot write to {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise FlowraceError(f"cannot write to {out}: permission denied")
    driver = str(source.resolve())
    v = Validation(proposal=driver, out=str(out))
    clock = _Clock(time_budget + GRACE)

    say("phase 1 of 5: compiling")
    start = time.monotonic()
    timeout, _ = clock.cap(max(time_budget, 30.0))
    built = run_child("build", {"driver": driver}, timeout)  # ProposalBuildError: exit 2
    if not built.ok:
        raise FlowraceError(f"{path}: the build {built.crash}" if built.crash and
                            not built.crash.startswith("failed:") else
                            f"validate: the build {built.crash}\n{built.stderr[-3000:]}")
    v.phases.append(Phase("compile", time.monotonic() - start, "compiles against the shim"))

    try:
        _gauntlet(v, clock, driver, out, time_budget, connections, interleavings, sweep, say)
    finally:
        v.seconds = time.monotonic() - t0
        shutil.rmtree(out / ".validate", ignore_errors=True)  # the hunts' step logs
    from .validate_report import write_report

    v.report = write_report(v, out)
    (out / "validation.json").write_text(json.dumps(v.to_json(), indent=2) + "\n")
    return v


def _stop(v: Validation, why: str, phases: list[str]) -> None:
    for name in phases:
        v.phases.append(Phase(name, 0.0, f"not run: {why}"))


def _gauntlet(v: Validation, clock: _Clock, driver: str, out: Path, budget: float,
              connections: int, interleavings: int, sweep: int,
              say: Callable[[str], None]) -> None:
    rest = ["explore", "compare", "stress"]
    say("loading")
    start = time.monotonic()
    loaded = _child_or_reason(v, clock, "load", {"driver": driver}, 30.0, None)
    if loaded is None:
        for r in v.reasons:
            if r.phase == "load":
                r.detail += " (while being loaded: a constructor or initialiser runs then)"
        v.phases.append(Phase("load", time.monotonic() - start, "did not load"))
        _stop(v, "the proposal did not load", ["smoke", *rest])
        return
    v.phases.append(Phase("load", time.monotonic() - start, "loads"))

    say("seeded executions of every scenario, one by one")
    start = time.monotonic()
    found = hunt(v, clock, driver, [*SMALL, *LARGE], "smoke", 20, 20.0 + budget * 0.2)
    v.phases.append(Phase("smoke", time.monotonic() - start,
                          f"{found.kind} on {found.scenario}" if found else "no crash, exit, "
                          "hang or fork"))
    if found is not None:
        v.reasons.append(found)
        _stop(v, f"the proposal's code {found.kind}ed in the smoke phase"
              if found.kind != "exit" else "the proposal's code exited in the smoke phase",
              rest)
        return

    # the searches take 0.4 T, minimising what they found at most 0.1 T more (each kind
    # found gets its share), drawing it a few seconds
    n_jobs = len(SMALL) + 2 * len(LARGE)
    per_small = budget * 0.3 / len(SMALL)
    minimise = max(0.2, min(5.0, budget * 0.1 / n_jobs / 2))
    jobs = [("dfs", name, {"driver": driver, "scenario": name, "strategy": EXHAUSTIVE,
                           "time_budget": per_small, "minimise_seconds": minimise,
                           "out_dir": str(out / "counterexamples" / f"dfs-{name}")})
            for name in SMALL]
    jobs += [(strategy, name, {"driver": driver, "scenario": name, "strategy": strategy,
                               "depth": 3, "max_executions": 10000,
                               "time_budget": budget * 0.05, "minimise_seconds": minimise,
                               "out_dir": str(out / "counterexamples" / f"{strategy}-{name}")})
             for name in LARGE for strategy in ("pct", "random")]
    for _, _, job in jobs:
        job["pictures_until"] = time.time() + budget * 0.5
    say("exhaustive search on the small scenarios, pct and random on the large ones")
    start = time.monotonic()
    # the searches stop at their budgets (checked between executions), minimising and
    # drawing at 0.5 T; a child still there 25 s later (start-up, one last picture) is
    # stuck in one execution: a hang (unless the deadline came first: cut short)
    want = budget * 0.5 + 25.0
    timeout, cut = clock.cap(want)
    together = run_phase("explore-many", {"jobs": [job for _, _, job in jobs]}, timeout)
    if together.forked:
        v.reasons.append(Reason("explore", "fork", None, _forked_detail(together, "explore")))
    if together.ok:
        results = together.value["results"]
        for (strategy, name, _), doc in zip(jobs, results, strict=True):
            _add_explore_reasons(v, strategy, doc)
            data = {"executions": doc["executions"], "kinds": sorted(doc.get("by_kind", {}))}
            if strategy == "dfs":  # the exhaustive phase: which search gave the result
                data["strategy"] = doc.get("strategy", "dfs")
                data["complete"] = doc["complete"]
                data["coverage"] = doc.get("coverage")
                if not doc["complete"] and not doc.get("counterexamples"):
                    v.missing.append(_unfinished_dfs(driver, name, doc, doc["seconds"]))
            v.phases.append(Phase(f"{strategy} {name}", doc["seconds"],
                                  _explore_summary(data), data))
    elif together.crash and together.crash.startswith("failed:"):
        raise FlowraceError(f"validate: the explore phase {together.crash}\n"
                            + together.stderr[-3000:])
    elif together.timed_out and cut:
        v.cut_short.append("explore: cut short by the time budget")
        v.phases.append(Phase("explore", time.monotonic() - start, "cut short"))
    else:
        kind = _kind_of(together)
        say(f"the search {together.crash}: finding the execution")
        found = hunt(v, clock, driver, [*SMALL, *LARGE], "explore", 1000, 60.0)
        if found is None:
            found = Reason("explore", kind, None,
                           f"the proposal's code {together.crash} during the exhaustive "
                           "search; no seeded random or PCT execution reproduced it")
        v.reasons.append(found)
        v.phases.append(Phase("explore", time.monotonic() - start,
                              f"{kind}: {together.crash}"))
        _stop(v, f"the proposal's code {kind} in the search", ["compare", "stress"])
        return

    say(f"phase 3 of 5: comparison on identical interleavings (3 drivers x every "
        f"scenario: up to {interleavings:,} interleavings + {2 * sweep} step-level seeds "
        "each)")
    start = time.monotonic()
    doc = _child_or_reason(v, clock, "matrix",
                           _matrix_args(driver, out, interleavings, sweep), budget + 120, None)
    if doc is not None:
        v.cells = doc["cells"]
        from .matrix import cell_from_json

        cells = [cell_from_json(c) for c in v.cells]
        for f in driver_findings(cells, doc["proposal"]):
            v.reasons.append(Reason("compare", f.kind, f.scenario,
                                    f"agents {', '.join(f.agents)}: {f.detail}"
                                    + (f" ({f.executions} executions)" if f.executions
                                       else ""), f.trace))
        summary = f"{len(v.cells)} cells, {doc['executions']} executions"
    else:
        summary = "did not finish"
    v.phases.append(Phase("compare", time.monotonic() - start, summary))

    say("phase 4 of 5: failure rate over polls")
    panels = [{"scenario": "late-packets", "events": list(RATE_EVENTS)}]
    for cell in v.cells:  # every other scenario: where original first went wrong
        bad = cell.get("first_bad_interleaving") or {}
        if (cell["driver"] == "original" and cell["agent"] == "prefix"
                and bad.get("kind") == "interleaving" and bad.get("events")
                and all(p["scenario"] != cell["scenario"] for p in panels)):
            panels.append({"scenario": cell["scenario"], "events": list(bad["events"])})
    timeout, _ = clock.cap(120.0 + 15 * len(panels))
    if timeout > 1:
        rates = run_phase("rates", {"panels": panels,
                                    "drivers": [driver, "original", BEST_FIX]}, timeout)
        if rates.ok:
            v.rate_panels = rates.value["panels"]
            v.rates = v.rate_panels[0]

    say(f"phase 5 of 5: stress on real threads ({connections:,} connections)")
    start = time.monotonic()
    for name in (driver, "original"):
        # the watchdog's own limit, or what the deadline leaves (then a stop is no finding)
        seconds = min(STRESS_SECONDS, clock.left() - 10.0)
        if seconds < 1.0:
            v.cut_short.append(f"stress {'proposal' if name == driver else name}: not run "
                               "(time budget spent)")
            continue
        cut = seconds < STRESS_SECONDS
        args = {"driver": name, "connections": connections, "max_seconds": seconds}
        if name == driver:
            doc = _child_or_reason(v, clock, "stress", args, seconds + 15.0, None)
        else:
            timeout, _ = clock.cap(seconds + 15.0)
            doc = run_phase("stress", args, timeout).value if timeout > 1 else None
        if doc is None:
            continue
        if cut and not doc["completed"] and any(
                x["detail"].startswith("hang:") for x in doc["violations"]):
            v.cut_short.append(f"stress {'proposal' if name == driver else name}: stopped "
                               f"after {seconds:.0f} s by the time budget")
            continue
        v.stress["proposal" if name == driver else name] = doc
        if name == driver and doc.get("timed_out") and not doc["violations"]:
            v.missing.append(Missing(
                "stress", None, f"{doc['timed_out']}; {doc['operations']:,} operations in "
                f"{doc['seconds']:.1f} s (no deadlock cycle: not a finding)",
                f"flowrace stress --driver {shlex.quote(driver)} --connections "
                f"{connections}"))
        elif name == driver and (doc["lingering"] or doc["violations"]):
            kinds = sorted({x["kind"] for x in doc["violations"]})
            v.reasons.append(Reason("stress", ",".join(kinds) or "leak", None,
                                    f"{doc['lingering']} flows lingering after "
                                    f"{connections} connections on real threads; "
                                    + "; ".join(x["detail"] for x in doc["violations"][:3])))
    mine = v.stress.get("proposal")
    v.phases.append(Phase("stress", time.monotonic() - start,
                          f"{mine['lingering']} lingering, "
                          f"{mine['stats']['flows_dropped_table_full']} dropped, "
                          f"{mine['ops_per_second']:,} ops/s" if mine else "did not finish"))


def _unfinished_dfs(driver: str, scenario: str, doc: dict[str, Any], seconds: float) -> Missing:
    """What an incomplete dfs leaves unproven, how far it got, and how to finish it."""
    coverage = doc.get("coverage")
    how_far = f"{doc['executions']:,} executions in {seconds:.1f} s"
    need = None
    if coverage:
        how_far += f", about {100 * coverage:.1f} % of the search tree (estimate)"
        need = seconds / coverage
    budget = max(60, int(math.ceil(2 * need / 60) * 60)) if need else 600
    return Missing(
        "dfs", scenario,
        f"the exhaustive search did not complete: {how_far}; nothing found so far",
        f"flowrace explore --driver {shlex.quote(driver)} --scenario {scenario} "
        f"--strategy {doc.get('strategy', 'dfs')} --jobs 2 --time-budget {budget}")


def _explore_summary(data: dict[str, Any] | None) -> str:
    if not data:
        return "did not finish"
    parts = [f"{data['executions']:,} executions"]
    if "complete" in data:
        cov = data.get("coverage")
        parts.append("complete" if data["complete"] else
                     f"INCOMPLETE (about {100 * cov:.1f} % covered)" if cov else
                     "INCOMPLETE (budget ran out)")
    parts.append(", ".join(data["kinds"]) if data["kinds"] else "no violation")
    return "; ".join(parts)


def builtin_paths() -> dict[str, Path]:
    """Built-in variants as proposal files (validate takes a path)."""
    from kernel_model._build import csrc_dir

    return {n: csrc_dir() / "variants" / f"{n.replace('-', '_')}.c" for n in builtin_names()}


__all__ = ["GRACE", "Missing", "Reason", "Validation", "builtin_paths", "hunt", "run_child",
           "validate"]
