"""`flowrace validate PATH.c`: is this fix for flowdata.c right?

The gauntlet, every phase in a child process (`compare._worker`) so that a proposal
that crashes or hangs is a finding, never the validator's death:

1. compile against the shim (a compile error: the compiler's messages, exit 2);
2. exhaustive `dfs` on every small scenario (complete, or as far as the budget goes);
3. `pct` (depth 3) and `random` on the large ones;
4. the comparison matrix on identical interleavings: the proposal beside `original` and
   the best built-in fix, against every agent variant;
5. a real-thread stress run (and the same for `original`, for the figures).

Verdict: PASS when no phase found anything the proposal is to blame for; FAIL with the
reasons, each with its minimised, replayable counterexample. A crash or hang is located
by seed (bisection over child runs), and the engine's step log (written as it runs)
gives the interleaving that led there; a crash's interleaving is then minimised (each
candidate in a process of its own) and saved as a trace.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kernel_model import FlowraceError, builtin_names, load_variant
from kernel_model.execution import TRACE_FORMAT, actor_names, compress_schedule

from .scenarios import get_scenario

SMALL = ("lingering-rst", "late-packets", "clean-close", "split-deletes", "preempted-holder",
         "client-restart", "two-clients")
LARGE = ("rst-storm",)
BEST_FIX = "assoc-count"
#: the interleaving of late-packets where the shipped driver leaks and the agent before the
#: workaround ships the lingering flow's failure again: the rate plot's x-axis
RATE_EVENTS = ("cpu0.classify0.ref", "cpu0.classify0.release", "cpu0.late0.ref",
               "cpu1.delete0", "cpu1.delete1", "cpu1.delete2", "cpu1.delete3",
               "cpu0.late0.release", "agent.poll0", "cpu0.late1.ref", "cpu0.late1.release",
               "agent.poll1", "agent.poll2")


@dataclass
class Reason:
    """One thing wrong with the proposal, with the execution that shows it."""

    phase: str
    kind: str
    scenario: str | None
    detail: str
    trace: str | None = None
    files: dict[str, str] = field(default_factory=dict)  # timeline, svg, png

    @property
    def replay(self) -> str | None:
        return f"flowrace replay {self.trace}" if self.trace else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"replay": self.replay}


@dataclass
class Phase:
    name: str
    seconds: float
    summary: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Validation:
    proposal: str
    out: str
    reasons: list[Reason] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)
    stress: dict[str, dict[str, Any]] = field(default_factory=dict)
    rates: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    report: dict[str, str] = field(default_factory=dict)
    cluster: dict[str, Any] | None = None  # where the phases ran (validate --cluster)

    @property
    def verdict(self) -> str:
        return "FAIL" if self.reasons else "PASS"

    def to_json(self) -> dict[str, Any]:
        return {
            "proposal": self.proposal,
            "verdict": self.verdict,
            "reasons": [r.to_json() for r in self.reasons],
            "phases": [asdict(p) | {"seconds": round(p.seconds, 3)} for p in self.phases],
            "stress": self.stress,
            "seconds": round(self.seconds, 3),
            "report": self.report,
            "out": self.out,
        } | ({"cluster": self.cluster} if self.cluster else {})


# ---- child processes ---------------------------------------------------------------------
@dataclass
class ChildResult:
    ok: bool
    value: dict[str, Any] | None
    crash: str | None  # "SIGSEGV", "timeout after 30 s", "exit 1: <last line>"
    stderr: str


def run_child(phase: str, args: dict[str, Any], timeout: float) -> ChildResult:
    try:
        proc = subprocess.run([sys.executable, "-m", "compare._worker", phase],
                              input=json.dumps(args), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        return ChildResult(False, None, f"hung (no answer within {timeout:.0f} s)", err or "")
    if proc.returncode == 0:
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        return ChildResult(True, json.loads(lines[-1]), None, proc.stderr)
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        return ChildResult(False, None, f"crashed with {name}", proc.stderr)
    last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
    return ChildResult(False, None, f"failed: {last}", proc.stderr)


_remote: ContextVar[Callable[..., ChildResult] | None] = ContextVar("validate_remote",
                                                                    default=None)


def run_phase(phase: str, args: dict[str, Any], timeout: float) -> ChildResult:
    """`run_child` here, or on the cluster `validate(cluster=...)` was given."""
    remote = _remote.get()
    return run_child(phase, args, timeout) if remote is None else remote(phase, args, timeout)


def _child_or_reason(v: Validation, phase: str, args: dict[str, Any], timeout: float,
                     scenario: str | None) -> dict[str, Any] | None:
    res = run_phase(phase, args, timeout)
    if res.ok:
        return res.value
    if res.crash and res.crash.startswith("failed:"):
        raise FlowraceError(f"validate: the {phase} phase {res.crash}\n" + res.stderr[-3000:])
    kind = "hang" if res.crash.startswith("hung") else "crash"
    reason = Reason(phase, kind, scenario, f"the proposal's code {res.crash} during {phase}"
                    + (f" on {scenario}" if scenario else ""))
    if scenario is not None:
        locate_crash(v, reason, args["driver"], scenario, timeout)
    v.reasons.append(reason)
    return None


def locate_crash(v: Validation, reason: Reason, driver: str, scenario: str,
                 timeout: float, executions: int = 2000) -> None:
    """Find a seed that crashes or hangs, by bisection over child runs, then the
    interleaving that led there from the engine's step log (a crash's, minimised)."""
    per_seed = max(5.0, timeout / 10)
    for strategy, depth in (("random", 2), ("pct", 3)):
        lo, hi = 1, 1 + executions
        first = run_phase("batch", {"driver": driver, "scenario": scenario, "strategy": strategy,
                                    "depth": depth, "first_seed": lo, "executions": hi - lo},
                          timeout)
        if first.ok:
            continue
        while hi - lo > 1:
            mid = (lo + hi) // 2
            part = run_phase("batch", {"driver": driver, "scenario": scenario,
                                       "strategy": strategy, "depth": depth, "first_seed": lo,
                                       "executions": mid - lo}, per_seed)
            if part.ok:
                lo = mid
            else:
                hi = mid
        seed = lo
        log = Path(v.out) / f"{reason.kind}-{scenario}.steps"
        single = run_phase("single", {"driver": driver, "scenario": scenario, "seed": seed,
                                      "strategy": strategy, "depth": depth, "log": str(log)},
                           per_seed)
        if single.ok:
            continue  # not reproducible on its own (should not happen: runs are deterministic)
        compiled = get_scenario(scenario).compile()
        actors = list(log.read_bytes())
        shrunk = ""
        signame = single.crash.removeprefix("crashed with ")
        if reason.kind == "crash" and signame.startswith("SIG"):
            small = run_phase("shrink", {"driver": driver, "scenario": scenario,
                                         "actors": actors, "signal": signame,
                                         "seconds": min(10.0, per_seed)}, per_seed + 30)
            if small.ok and small.value and small.value["actors"]:
                s = small.value
                actors = s["actors"]
                shrunk = (f" (minimised from {s['original_switches']} context switches / "
                          f"{s['original_steps']} steps to {s['switches']} / {s['steps']})")
        schedule = compress_schedule(actors, actor_names(compiled))
        trace = Path(v.out) / f"{reason.kind}-{scenario}.trace.json"
        trace.write_text(json.dumps({
            "format": TRACE_FORMAT, "version": 1, "driver": driver, "scenario": scenario,
            "strategy": strategy, "seed": seed, "schedule": schedule,
            "violations": [], "crash": single.crash,
        }, indent=2) + "\n")
        reason.trace = str(trace)
        reason.detail += (f"; {strategy} seed {seed} reproduces it: it {single.crash} in "
                          f"step {len(actors) - 1} ({actor_names(compiled)[actors[-1]]}) of "
                          f"the interleaving {schedule}{shrunk}")
        return
    reason.detail += "; no seeded random or PCT execution reproduced it"


# ---- the gauntlet ------------------------------------------------------------------------
def _add_explore_reasons(v: Validation, phase: str, doc: dict[str, Any]) -> None:
    for cex in doc.get("counterexamples", []):
        viol = cex.get("violation", {})
        files = {k: cex[k] for k in ("timeline", "svg", "png") if k in cex}
        v.reasons.append(Reason(
            phase, cex["kind"], doc["scenario"],
            f"{viol.get('detail', '')} (minimised: {cex['preemptions']} preemption(s), "
            f"{cex['steps']} steps)", cex.get("trace"), files))


def _matrix_args(driver: str, out: Path, interleavings: int, sweep: int) -> dict[str, Any]:
    return {"drivers": [driver, "original", BEST_FIX], "interleavings": interleavings,
            "sweep": sweep, "traces": str(out / "counterexamples" / "compare")}


def _rates_args(driver: str) -> dict[str, Any]:
    return {"scenario": "late-packets", "events": list(RATE_EVENTS),
            "drivers": [driver, "original", BEST_FIX]}


def _stress_args(driver: str, connections: int) -> dict[str, Any]:
    return {"driver": driver, "connections": connections}


def validate(path: str | Path, out: str | Path, *, time_budget: float = 120.0,
             connections: int = 10000, interleavings: int = 200, sweep: int = 100,
             progress: Callable[[str], None] | None = None,
             cluster: str | None = None) -> Validation:
    """Run the gauntlet on the proposal at `path`; write the evidence into `out`.
    `cluster`: a Dask scheduler's address; every phase is then a task there, all of them
    at once (`compare._cluster.RemotePhases`), and `out` gets the files they wrote."""
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
    budget = max(time_budget, 4.0)
    # the phases that do not wait for others start now, beside the explorations
    remote.prefetch("matrix", _matrix_args(driver, out, interleavings, sweep), budget + 120)
    remote.prefetch("rates", _rates_args(driver), 120)
    for name in (driver, "original"):
        remote.prefetch("stress", _stress_args(name, connections), 300)
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
    t0 = time.monotonic()
    say = progress or (lambda _msg: None)
    source = Path(path)
    if not source.is_file():
        raise FlowraceError(f"no such driver proposal file: {path}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    driver = str(source.resolve())
    v = Validation(proposal=driver, out=str(out))

    say("compiling")
    start = time.monotonic()
    load_variant(driver)  # ProposalBuildError: the caller shows the compiler's messages
    v.phases.append(Phase("compile", time.monotonic() - start, "compiles against the shim"))

    budget = max(time_budget, 4.0)
    per_small = budget * 0.4 / len(SMALL)
    jobs = [("dfs", name, {"driver": driver, "scenario": name, "strategy": "dfs",
                           "time_budget": per_small,
                           "out_dir": str(out / "counterexamples" / f"dfs-{name}")})
            for name in SMALL]
    jobs += [(strategy, name, {"driver": driver, "scenario": name, "strategy": strategy,
                               "depth": 3, "max_executions": 10000,
                               "time_budget": budget * 0.05,
                               "out_dir": str(out / "counterexamples" / f"{strategy}-{name}")})
             for name in LARGE for strategy in ("pct", "random")]
    say("exhaustive dfs on the small scenarios, pct and random on the large ones")
    together = run_phase("explore-many", {"jobs": [job for _, _, job in jobs]},
                         budget * 2 + 120)
    if together.ok:
        results = together.value["results"]
        seconds = [doc["seconds"] for doc in results]
    else:  # something crashed or hung: one child per exploration, to say which
        results, seconds = [], []
        for strategy, name, job in jobs:
            say(f"{strategy} on {name}")
            t = time.monotonic()
            results.append(_child_or_reason(v, "explore", job, budget + 60, name))
            seconds.append(time.monotonic() - t)
    for (strategy, name, _), doc, secs in zip(jobs, results, seconds, strict=True):
        data: dict[str, Any] = {}
        if doc is not None:
            _add_explore_reasons(v, strategy, doc)
            data = {"executions": doc["executions"], "kinds": sorted(doc.get("by_kind", {}))}
            if strategy == "dfs":
                data["complete"] = doc["complete"]
        v.phases.append(Phase(f"{strategy} {name}", secs, _explore_summary(data), data))

    say("comparison on identical interleavings")
    start = time.monotonic()
    doc = _child_or_reason(v, "matrix", _matrix_args(driver, out, interleavings, sweep),
                           budget + 120, None)
    if doc is not None:
        v.cells = doc["cells"]
        bad: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for cell in v.cells:
            if cell["driver"] == doc["proposal"] and (
                    cell["verdict"] in ("unsafe", "masked")
                    or (cell["verdict"] == "wrong" and cell.get("cause") != "agent")):
                bad.setdefault((cell["scenario"], cell["verdict"]), []).append(cell)
        for (scenario, verdict), cells in bad.items():
            first = cells[0].get("first_bad_interleaving") or {}
            agents = ", ".join(c["agent"] for c in cells)
            v.reasons.append(Reason("compare", verdict, scenario,
                                    f"agents {agents}: {cells[0]['reason']}",
                                    first.get("trace")))
        summary = f"{len(v.cells)} cells, {doc['executions']} executions"
    else:
        summary = "did not finish"
    v.phases.append(Phase("compare", time.monotonic() - start, summary))

    say("failure rate over polls")
    rates = run_phase("rates", _rates_args(driver), 120)
    if rates.ok:
        v.rates = rates.value

    say(f"stress on real threads ({connections} connections)")
    start = time.monotonic()
    for name in (driver, "original"):
        doc = _child_or_reason(v, "stress", _stress_args(name, connections),
                               300, None) if name == driver else run_phase(
            "stress", _stress_args(name, connections), 300).value
        if doc is None:
            continue
        v.stress["proposal" if name == driver else name] = doc
        if name == driver and (doc["lingering"] or doc["violations"]):
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
    v.seconds = time.monotonic() - t0
    from .validate_report import write_report

    v.report = write_report(v, out)
    (out / "validation.json").write_text(json.dumps(v.to_json(), indent=2) + "\n")
    return v


def _explore_summary(data: dict[str, Any] | None) -> str:
    if not data:
        return "did not finish"
    parts = [f"{data['executions']:,} executions"]
    if "complete" in data:
        parts.append("complete" if data["complete"] else "budget ran out")
    parts.append(", ".join(data["kinds"]) if data["kinds"] else "no violation")
    return "; ".join(parts)


def builtin_paths() -> dict[str, Path]:
    """Built-in variants as proposal files (validate takes a path)."""
    from kernel_model._build import csrc_dir

    return {n: csrc_dir() / "variants" / f"{n.replace('-', '_')}.c" for n in builtin_names()}


__all__ = ["Reason", "Validation", "builtin_paths", "locate_crash", "run_child", "validate"]
