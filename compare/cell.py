"""A cell of the matrix: the verdict of one (driver, agent, scenario) with the figures
behind it (`Cell`, to and from JSON), and the executions that earned it (`ExecutionRef`,
`Execution`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kernel_model.scenario import GroundTruth

from .verdict import AgentFigures, Judgement, KernelView, Verdict


class ExecutionRef(NamedTuple):
    """One execution of a (driver, scenario): interleaving #k, or a step-level seed."""

    kind: str  # "interleaving", "random" or "pct"
    number: int  # the interleaving's number, or the seed
    events: tuple[str, ...] = ()  # the interleaving's event labels (when asked for)

    def describe(self) -> str:
        if self.kind == "interleaving":
            return f"interleaving #{self.number}"
        return f"{self.kind} seed {self.number}"

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind}
        if self.kind == "interleaving":
            doc["index"] = self.number
            doc["events"] = list(self.events)
        else:
            doc["seed"] = self.number
        return doc


@dataclass(frozen=True, slots=True)
class Execution:
    """One execution judged for one agent."""

    ref: ExecutionRef
    judgement: Judgement
    kernel: KernelView
    figures: AgentFigures
    spin_steps: int
    violations: tuple[str, ...]  # "kind: detail"

    @property
    def verdict(self) -> Verdict:
        return self.judgement.verdict


@dataclass
class Cell:
    """The verdict of one (driver, agent, scenario) and the figures behind it."""

    driver: str
    agent: str
    scenario: str
    truth: GroundTruth
    verdict: Verdict
    cause: str | None
    reason: str
    first: ExecutionRef | None  # the first execution that earned `verdict`
    first_by_verdict: dict[Verdict, ExecutionRef]
    counts: dict[Verdict, int]  # over the interleavings
    sweep_counts: dict[Verdict, int]  # over the step-level sweep
    interleavings: int
    exhaustive: bool
    total: int | None
    seed: int | None
    sweep: int
    final_rate: float | None  # of `first`
    final_rates: tuple[float | None, float | None]  # lowest and highest over executions
    worst_rate: float | None  # highest cumulative rate after any poll
    closed_error: tuple[int, int]  # backend closes - truth, lowest and highest
    failures_error: tuple[int, int]
    lingering: int  # most flows lingering in openFlows at the end of one execution
    open_at_end: int  # highest openFlows occupancy at the end
    findings: dict[str, int]  # check -> executions where it fired
    spin_steps: int  # most spin steps in one execution
    windows_lingering_flows: int  # highest value of the workaround's counter
    notes: list[str] = field(default_factory=list)
    violation: str = ""  # the first finding of `first`, "kind: detail"
    schedule: str | None = None  # step-level schedule of `first` (set by Matrix.replayable)
    trace: str | None = None  # a saved `flowrace replay` trace of `first`

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.driver, self.agent, self.scenario)

    @property
    def label(self) -> str:
        """The verdict as shown: ``wrong (agent)`` when the agent alone is at fault."""
        return f"{self.verdict} (agent)" if self.cause == "agent" else str(self.verdict)

    def every(self, *verdicts: Verdict) -> bool:
        """Every execution (interleavings and sweep) earned one of `verdicts`."""
        allowed = set(verdicts)
        return all(v in allowed for c in (self.counts, self.sweep_counts) for v, n in c.items()
                   if n)

    def some(self, verdict: Verdict) -> bool:
        return bool(self.counts.get(verdict) or self.sweep_counts.get(verdict))

    def to_json(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "agent": self.agent,
            "scenario": self.scenario,
            "verdict": str(self.verdict),
            "cause": self.cause,
            "reason": self.reason,
            "interleavings": self.interleavings,
            "interleavings_total": self.total,
            "exhaustive": self.exhaustive,
            "seed": self.seed,
            "sweep": self.sweep,
            "verdict_counts": {str(v): n for v, n in sorted(self.counts.items()) if n},
            "sweep_verdict_counts": {str(v): n for v, n in sorted(self.sweep_counts.items())
                                     if n},
            "truth": {"closed": self.truth.closed, "failures": self.truth.failures,
                      "rate": self.truth.rate},
            "final_rate": self.final_rate,
            "final_rates": list(self.final_rates),
            "worst_rate": self.worst_rate,
            "closed_error": list(self.closed_error),
            "failures_error": list(self.failures_error),
            "lingering": self.lingering,
            "open_at_end": self.open_at_end,
            "findings": dict(self.findings),
            "spin_steps": self.spin_steps,
            "windows_lingering_flows": self.windows_lingering_flows,
            "first_bad_interleaving": (self.first.to_json() | {
                "schedule": self.schedule, "trace": self.trace, "violation": self.violation,
            }) if self.first is not None and self.verdict is not Verdict.CORRECT else None,
            "notes": list(self.notes),
        }


def cell_from_json(doc: dict[str, Any]) -> Cell:
    """A cell back from `Cell.to_json` (what a child process of `flowrace validate` sends):
    every field a verdict, a finding or a report reads."""

    def ref_of(d: dict[str, Any] | None) -> ExecutionRef | None:
        if not d:
            return None
        if d["kind"] == "interleaving":
            return ExecutionRef("interleaving", d["index"], tuple(d.get("events", ())))
        return ExecutionRef(d["kind"], d["seed"])

    truth = doc["truth"]
    first = doc.get("first_bad_interleaving") or {}
    verdict = Verdict.parse(doc["verdict"])
    cell = Cell(
        driver=doc["driver"], agent=doc["agent"], scenario=doc["scenario"],
        truth=GroundTruth(truth["closed"], {int(k): v for k, v in truth["failures"].items()}),
        verdict=verdict, cause=doc["cause"], reason=doc["reason"], first=ref_of(first),
        first_by_verdict={},
        counts={Verdict.parse(k): n for k, n in doc["verdict_counts"].items()},
        sweep_counts={Verdict.parse(k): n for k, n in doc["sweep_verdict_counts"].items()},
        interleavings=doc["interleavings"], exhaustive=doc["exhaustive"],
        total=doc["interleavings_total"], seed=doc["seed"], sweep=doc["sweep"],
        final_rate=doc["final_rate"], final_rates=tuple(doc["final_rates"]),
        worst_rate=doc["worst_rate"], closed_error=tuple(doc["closed_error"]),
        failures_error=tuple(doc["failures_error"]), lingering=doc["lingering"],
        open_at_end=doc["open_at_end"], findings=dict(doc["findings"]),
        spin_steps=doc["spin_steps"], windows_lingering_flows=doc["windows_lingering_flows"],
        notes=list(doc.get("notes", [])), violation=first.get("violation", ""),
        schedule=first.get("schedule"), trace=first.get("trace"))
    return cell
