"""`flowrace validate PATH.c`: is this fix for flowdata.c right?

The gauntlet, every phase in a child process (`compare._worker`) so that a proposal
that crashes or hangs is a finding, never the validator's death:

1. compile against the shim (a compile error: the compiler's messages, exit 2);
2. exhaustive `dfs` on every small scenario (complete, or as far as the budget goes);
3. `pct` (depth 3) and `random` on the large ones;
4. the comparison matrix on identical interleavings: the proposal beside `original` and
   the best built-in fix, against every agent variant;
5. a real-thread stress run (and the same for `original`, for the figures).

Verdict (`compare.verdict.overall`): FAIL when any phase found something the proposal is
to blame for, with the reasons, each with its minimised, replayable counterexample;
INCONCLUSIVE when nothing was found but some proof is missing (an exhaustive search ran
out of budget, a stress run timed out without a provable deadlock), naming each gap, how
far it got and the command that finishes it; PASS only when every exhaustive phase
completed and nothing was found. An exhaustive search that runs out of its share of the
budget gets a second go with what the finished ones left over. A crash or hang is located
by seed (bisection over child runs), and the engine's step log (written as it runs)
gives the interleaving that led there; a crash's interleaving is then minimised (each
candidate in a process of its own) and saved as a trace.
"""

from __future__ import annotations

import json
import math
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kernel_model import FlowraceError, builtin_names, load_variant
from kernel_model.execution import (
    TRACE_FORMAT,
    actor_names,
    compress_schedule,
    driver_fields,
)

from .findings import driver_findings
from .scenarios import get_scenario
from .verdict import EXIT_CODES, overall

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
        return f"flowrace replay {shlex.quote(self.trace)}" if self.trace else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"replay": self.replay}


@dataclass
class Missing:
    """A proof that is not there: nothing was found, but this part did not complete."""

    phase: str
    scenario: str | None
    detail: str  # how far it got
    command: str  # what finishes it

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
    missing: list[Missing] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)
    stress: dict[str, dict[str, Any]] = field(default_factory=dict)
    rates: dict[str, Any] = field(default_factory=dict)
    #: the same for every scenario: one panel each, on the interleaving where the shipped
    #: driver first went wrong (a dict like `rates` per scenario)
    rate_panels: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    report: dict[str, str] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """PASS, FAIL or INCONCLUSIVE (`compare.verdict.overall`)."""
        return overall(bool(self.reasons), bool(self.missing))

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_json(self) -> dict[str, Any]:
        return {
            "proposal": self.proposal,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "reasons": [r.to_json() for r in self.reasons],
            "missing": [m.to_json() for m in self.missing],
            "phases": [asdict(p) | {"seconds": round(p.seconds, 3)} for p in self.phases],
            "stress": self.stress,
            "seconds": round(self.seconds, 3),
            "report": self.report,
            "out": self.out,
        }


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


def _child_or_reason(v: Validation, phase: str, args: dict[str, Any], timeout: float,
                     scenario: str | None) -> dict[str, Any] | None:
    res = run_child(phase, args, timeout)
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
        first = run_child("batch", {"driver": driver, "scenario": scenario, "strategy": strategy,
                                    "depth": depth, "first_seed": lo, "executions": hi - lo},
                          timeout)
        if first.ok:
            continue
        while hi - lo > 1:
            mid = (lo + hi) // 2
            part = run_child("batch", {"driver": driver, "scenario": scenario,
                                       "strategy": strategy, "depth": depth, "first_seed": lo,
                                       "executions": mid - lo}, per_seed)
            if part.ok:
                lo = mid
            else:
                hi = mid
        seed = lo
        log = Path(v.out) / f"{reason.kind}-{scenario}.steps"
        single = run_child("single", {"driver": driver, "scenario": scenario, "seed": seed,
                                      "strategy": strategy, "depth": depth, "log": str(log)},
                           per_seed)
        if single.ok:
            continue  # not reproducible on its own (should not happen: runs are deterministic)
        compiled = get_scenario(scenario).compile()
        actors = list(log.read_bytes())
        shrunk = ""
        signame = single.crash.removeprefix("crashed with ")
        if reason.kind == "crash" and signame.startswith("SIG"):
            small = run_child("shrink", {"driver": driver, "scenario": scenario,
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
            "format": TRACE_FORMAT, "version": 1, **driver_fields(load_variant(driver)),
            "driver": driver, "scenario": scenario,
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
            f"{cex['steps']} steps" + (f"; {cex['minimality']}" if cex.get("minimality")
                                      else "") + ")", cex.get("trace"), files))


def validate(path: str | Path, out: str | Path, *, time_budget: float = 120.0,
             connections: int = 10000, interleavings: int = 200, sweep: int = 100,
             progress: Callable[[str], None] | None = None) -> Validation:
    """Run the gauntlet on the proposal at `path`; write the evidence into `out`."""
    t0 = time.monotonic()
    say = progress or (lambda _msg: None)
    source = Path(path)
    if not source.is_file():
        raise FlowraceError(f"no such driver proposal file: {path}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    driver = str(source.resolve())
    v = Validation(proposal=driver, out=str(out))

    say("phase 1 of 5: compiling")
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
    say(f"phase 2 of 5: dfs on {len(SMALL)} small scenarios, pct and random on "
        f"{', '.join(LARGE)} (at most ~{budget * 0.5:.0f} s)")
    results, seconds = _explore_all(v, jobs, budget, say)
    # an exhaustive search that ran out of its share gets a second go with the time the
    # finished ones left over (it restarts: a search is not resumable across processes)
    left = budget * 0.4 - sum(secs for (strategy, _, _), secs in zip(jobs, seconds, strict=True)
                              if strategy == "dfs")
    again = [k for k, ((strategy, _, _), doc) in enumerate(zip(jobs, results, strict=True))
             if strategy == "dfs" and doc is not None and not doc["complete"]
             and not doc.get("counterexamples")]
    if again and left > 2 * per_small:
        share = left / len(again)
        more = [(jobs[k][0], jobs[k][1], jobs[k][2] | {"time_budget": share}) for k in again]
        say(f"phase 2 of 5: dfs again on {', '.join(j[1] for j in more)} "
            f"({share:.0f} s each)")
        docs, secs = _explore_all(v, more, budget, say)
        for k, doc, sec in zip(again, docs, secs, strict=True):
            if doc is not None:
                results[k] = doc
                seconds[k] += sec
    for (strategy, name, _), doc, secs in zip(jobs, results, seconds, strict=True):
        data: dict[str, Any] = {}
        if doc is not None:
            _add_explore_reasons(v, strategy, doc)
            data = {"executions": doc["executions"], "kinds": sorted(doc.get("by_kind", {}))}
            if strategy == "dfs":
                data["complete"] = doc["complete"]
                data["coverage"] = doc.get("coverage")
                if not doc["complete"] and not doc.get("counterexamples"):
                    v.missing.append(_unfinished_dfs(driver, name, doc, secs))
        v.phases.append(Phase(f"{strategy} {name}", secs, _explore_summary(data), data))

    say(f"phase 3 of 5: comparison on identical interleavings (3 drivers x every "
        f"scenario: up to {interleavings:,} interleavings + {2 * sweep} step-level seeds "
        "each)")
    start = time.monotonic()
    doc = _child_or_reason(v, "matrix", {
        "drivers": [driver, "original", BEST_FIX], "interleavings": interleavings,
        "sweep": sweep,
        "traces": str(out / "counterexamples" / "compare")}, budget + 120, None)
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
    rates = run_child("rates", {"panels": panels, "drivers": [driver, "original", BEST_FIX]},
                      120 + 15 * len(panels))
    if rates.ok:
        v.rate_panels = rates.value["panels"]
        v.rates = v.rate_panels[0]

    say(f"phase 5 of 5: stress on real threads ({connections:,} connections)")
    start = time.monotonic()
    for name in (driver, "original"):
        doc = _child_or_reason(v, "stress", {"driver": name, "connections": connections},
                               300, None) if name == driver else run_child(
            "stress", {"driver": name, "connections": connections}, 300).value
        if doc is None:
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
    v.seconds = time.monotonic() - t0
    from .validate_report import write_report

    v.report = write_report(v, out)
    (out / "validation.json").write_text(json.dumps(v.to_json(), indent=2) + "\n")
    return v


def _explore_all(v: Validation, jobs: list[tuple[str, str, dict[str, Any]]], budget: float,
                 say: Callable[[str], None]) -> tuple[list[dict[str, Any] | None], list[float]]:
    """Run explorations in one child; if it crashes or hangs, one child each, to say which."""
    together = run_child("explore-many", {"jobs": [job for _, _, job in jobs]},
                         budget * 2 + 120)
    if together.ok:
        docs = together.value["results"]
        return docs, [doc["seconds"] for doc in docs]
    results: list[dict[str, Any] | None] = []
    seconds: list[float] = []
    for strategy, name, job in jobs:
        say(f"{strategy} on {name}")
        t = time.monotonic()
        results.append(_child_or_reason(v, "explore", job, budget + 60, name))
        seconds.append(time.monotonic() - t)
    return results, seconds


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
        f"--strategy dfs --jobs 2 --time-budget {budget}")


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


__all__ = ["Missing", "Reason", "Validation", "builtin_paths", "locate_crash", "run_child",
           "validate"]
