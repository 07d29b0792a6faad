"""What one controlled execution returned: its steps, the violations the checks found,
the records each user-space poll read, the driver's statistics and every flow's end
state (`Outcome`), and the agent's side of it (`Outcome.agent_steps`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..scenario import CompiledScenario, Expire, Restart

VIOLATION_KINDS = {
    1: "leak",
    2: "use_after_free",
    3: "double_free",
    4: "double_move",
    5: "refcount_underflow",
    6: "freed_while_linked",
    7: "livelock",
    8: "deadlock",
    9: "irql",
    10: "data_race",
    11: "out_of_bounds",
}
OP_NAMES = {
    1: "begin",
    2: "InterlockedIncrement",
    3: "InterlockedDecrement",
    4: "InterlockedCompareExchange",
    5: "InterlockedExchange",
    6: "InterlockedExchangeAdd",
    7: "InterlockedOr",
    8: "InterlockedAnd",
    9: "Read",
    10: "Write",
    11: "KeAcquireSpinLock",
    12: "KeReleaseSpinLock",
    13: "InsertList",
    14: "RemoveEntryList",
    15: "IsListEmpty",
    16: "ExAllocatePoolWithTag",
    17: "ExFreePoolWithTag",
    18: "YieldProcessor",
    19: "KeStallExecutionProcessor",
    20: "PlainRead",
    21: "PlainWrite",
    22: "VolatileRead",
    23: "VolatileWrite",
    24: "AtomicRMW",
}
WHERE = {0: "none", 1: "open", 2: "closed", -1: "not created"}
SETTLE = "settle"


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """One flow record as user space reads it (DESIGN.md, public interface)."""

    handle: int
    cookie: int
    pid: int
    family: int
    protocol: int
    flags: int
    local_addr: str
    remote_addr: str
    local_port: int
    remote_port: int
    packets_in: int
    packets_out: int
    bytes_in: int
    bytes_out: int
    timestamp: int
    rtt: int
    rtt_var: int
    retransmits: int
    conn_status: int


@dataclass(frozen=True)
class Step:
    index: int
    actor: str
    op: str
    obj: str
    value: int
    event: str


@dataclass(frozen=True)
class Violation:
    kind: str
    step: int
    actor: str
    flow: int
    detail: str


@dataclass
class PollRead:
    """What one user-space poll read: the open snapshot and the closed drain."""

    client: str | None
    poll: int | None
    actor: str
    step: int
    time: float | None
    open: list[FlowRecord] = field(default_factory=list)
    closed: list[FlowRecord] = field(default_factory=list)
    final: bool = False


@dataclass(frozen=True)
class AgentStep:
    """One thing the agent does: poll (with what the driver returned), restart, expire."""

    kind: str
    client: str
    time: float | None
    open: list[FlowRecord]
    closed: list[FlowRecord]


@dataclass
class Outcome:
    driver: str
    scenario: str
    strategy: str
    seed: int | None
    schedule: str
    steps: list[Step]
    violations: list[Violation]
    polls: list[PollRead]
    stats: dict[str, int]
    flows: list[dict[str, Any]]
    compiled: CompiledScenario = field(repr=False, compare=False)

    @property
    def kinds(self) -> set[str]:
        return {v.kind for v in self.violations}

    @property
    def lingering(self) -> int:
        return sum(1 for v in self.violations if v.kind == "leak")

    def agent_steps(self) -> list[AgentStep]:
        """The agent's side of this execution, in order, ending with the poll every client
        makes after the scenario (user space polls forever)."""
        marks = []
        for k, (_, op, _) in enumerate(self.compiled.ops):
            if isinstance(op, (Restart, Expire)):
                marks.append(k)
        # order polls and marks by the step at which they began
        begins: dict[int, int] = {}
        for s in self.steps:
            if s.op == "begin":
                begins.setdefault(_event_op(self.compiled, s.event), s.index)
        items: list[tuple[int, AgentStep]] = []
        for p in self.polls:
            if p.final:
                continue
            items.append((p.step, AgentStep("poll", p.client or "", p.time, p.open, p.closed)))
        for k in marks:
            if k not in begins:
                continue  # the execution stopped (a livelock, a deadlock) before it
            op = self.compiled.ops[k][1]
            items.append((begins[k], AgentStep("restart" if isinstance(op, Restart) else "expire",
                                               op.client, None, [], [])))
        items.sort(key=lambda t: t[0])
        out = [i for _, i in items]
        final = [p for p in self.polls if p.final]
        clients = self.compiled.clients or ["c1"]
        for p in final:
            for n, client in enumerate(clients):
                out.append(AgentStep("poll", client, None, p.open, p.closed if n == 0 else []))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "scenario": self.scenario,
            "strategy": self.strategy,
            "seed": self.seed,
            "schedule": self.schedule,
            "steps": len(self.steps),
            "violations": [asdict(v) for v in self.violations],
            "polls": [
                {
                    "client": p.client,
                    "poll": p.poll,
                    "actor": p.actor,
                    "step": p.step,
                    "final": p.final,
                    "open": [asdict(r) for r in p.open],
                    "closed": [asdict(r) for r in p.closed],
                }
                for p in self.polls
            ],
            "stats": self.stats,
            "flows": self.flows,
            "trace": [asdict(s) for s in self.steps],
        }


def _event_op(compiled: CompiledScenario, label: str) -> int:
    for ev in compiled.events:
        if ev.label == label:
            return ev.op
    return -1
