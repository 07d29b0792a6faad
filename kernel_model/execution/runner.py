"""Run one controlled execution of a driver variant on a scenario, and read the outcome.

A schedule is data: the CLI's ``--schedule SPEC`` is a list of segments

    ACTOR        one step of ACTOR
    ACTOR*N      N steps of ACTOR
    ACTOR*       ACTOR until it finishes or cannot go on
    ACTOR@LABEL  ACTOR until the event LABEL has ended (e.g. cpu0@late0.ref)

separated by commas or spaces; after the last segment the default policy runs the
current actor while it can, then the lowest-numbered one. Every execution reports
its step-level schedule in that syntax (``cpu0*7,cpu1*12,...``), which replays it
exactly.
"""

from __future__ import annotations

import ipaddress
import json
import re
import struct
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._checks import check_int, check_seed
from .._symbols import symbolize
from ..errors import BadType, BadValue, FlowraceError, ScheduleError
from ..scenario import (
    IRQLS,
    PACKETS,
    Classify,
    CompiledScenario,
    Expire,
    LatePacket,
    Poll,
    Restart,
    Scenario,
    address_bytes,
)
from ..variants import Variant, load_variant, set_pick_callback

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
STRATEGIES = {"schedule": 0, "random": 1, "event-order": 2, "callback": 3, "pct": 4}
WHERE = {0: "none", 1: "open", 2: "closed", -1: "not created"}
SETTLE = "settle"
FLOW_FIELDS = ("Link", "Where", "RefCount", "AssocCount", "State", "Lock", "Flags", "PacketsIn",
               "PacketsOut", "BytesIn", "BytesOut", "Retransmits", "ConnStatus")


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


# ---- C specs ------------------------------------------------------------------------
def _scenario_spec(variant: Variant, compiled: CompiledScenario):
    cache = compiled.__dict__.setdefault("_c_specs", {})
    key = (variant.name, variant.sha256, id(variant.ffi))
    if key in cache:
        return cache[key]
    ffi = variant.ffi
    sc: Scenario = compiled.scenario
    flows = ffi.new("FR_FLOW_SPEC[]", max(1, len(sc.flows)))
    for i, f in enumerate(sc.flows):
        c = flows[i]
        c.handle = f.handle if f.handle is not None else i + 1
        c.cookie = f.cookie
        c.pid = f.pid
        c.family = f.family
        c.protocol = {"tcp": 6, "udp": 17}.get(f.protocol, 6)
        c.n_assoc = f.associations
        c.outbound = 1 if f.outbound else 0
        c.local_port = f.local[1]
        c.remote_port = f.remote[1]
        ffi.memmove(c.local_addr, address_bytes(f.local[0]), 16)
        ffi.memmove(c.remote_addr, address_bytes(f.remote[0]), 16)
    actors = ffi.new("FR_ACTOR_SPEC[]", len(sc.actors))
    for i, a in enumerate(sc.actors):
        actors[i].cpu = a.cpu
        actors[i].first_op, actors[i].n_ops = compiled.actor_ranges[i]
    ops = ffi.new("FR_OP_SPEC[]", max(1, len(compiled.ops)))
    client_index = {c: i for i, c in enumerate(compiled.clients)}
    for k, (_, op, _) in enumerate(compiled.ops):
        c = ops[k]
        c.kind = {Classify: 1, LatePacket: 2, Poll: 4, Restart: 5, Expire: 5}.get(type(op), 3)
        c.flow = getattr(op, "flow", -1)
        c.assoc = getattr(op, "assoc", 0)
        c.packet = PACKETS.get(getattr(op, "packet", "data"), 0)
        c.bytes = getattr(op, "bytes", 0)
        c.inbound = 1 if getattr(op, "inbound", False) else 0
        c.irql = IRQLS[op.irql]
        c.client = client_index.get(getattr(op, "client", ""), -1)
        c.poll = compiled.poll_numbers[k]
        c.event = compiled.op_events[k]
        c.n_after = len(compiled.after[k])
        for j, ev in enumerate(compiled.after[k]):
            c.after[j] = ev
    spec = ffi.new("FR_SCENARIO_SPEC *")
    spec.n_flows = len(sc.flows)
    spec.flows = flows
    spec.n_actors = len(sc.actors)
    spec.actors = actors
    spec.n_ops = len(compiled.ops)
    spec.ops = ops
    spec.n_events = len(compiled.events)
    spec.open_capacity = sc.open_capacity
    spec.buckets = sc.buckets
    cache[key] = (spec, flows, actors, ops)
    return cache[key]


def actor_names(compiled: CompiledScenario) -> list[str]:
    return [a.name for a in compiled.scenario.actors] + [SETTLE]


#: the largest step count of one schedule segment, and the longest schedule text
MAX_SCHEDULE_STEPS = 10_000_000
MAX_SCHEDULE_CHARS = 10_000_000
#: a trace file larger than this is not one flowrace wrote
MAX_TRACE_BYTES = 64 << 20


def parse_schedule(spec: str, compiled: CompiledScenario) -> list[tuple[int, int, int]]:
    """Parse a schedule SPEC into (actor, kind, arg) segments; see the module docstring."""
    names = actor_names(compiled)
    segments = []
    if not isinstance(spec, str):
        raise ScheduleError(f"a schedule is a string, not {type(spec).__name__}")
    if len(spec) > MAX_SCHEDULE_CHARS:
        raise ScheduleError(f"schedule too long ({len(spec):,} characters; at most "
                            f"{MAX_SCHEDULE_CHARS:,})")
    for token in re.split(r"[,\s]+", spec.strip()):
        if not token:
            continue
        m = re.fullmatch(r"([\w.-]+?)(?:\*(\d*)|@([\w.-]+))?", token)
        if not m:
            raise ScheduleError(f"malformed schedule segment {token[:60]!r} (use A, A*N, A* or "
                                "A@LABEL)")
        who, count, label = m.group(1), m.group(2), m.group(3)
        if count and (len(count) > 9 or not 1 <= int(count) <= MAX_SCHEDULE_STEPS):
            raise ScheduleError(f"schedule segment {token[:60]!r}: a count is 1 to "
                                f"{MAX_SCHEDULE_STEPS:,} steps")
        if who in names:
            actor = names.index(who)
        elif who.isdigit() and len(who) < 4 and int(who) < len(names):
            actor = int(who)
        else:
            raise ScheduleError(f"schedule names unknown actor {who!r}; actors: {', '.join(names)}")
        if label is not None:
            try:
                ev = compiled.label_to_event(label)
            except FlowraceError:
                ev = compiled.label_to_event(f"{names[actor]}.{label}")
            segments.append((actor, 1, ev))
        elif count is None:
            segments.append((actor, 0, 1))
        elif count == "":
            segments.append((actor, 2, 0))
        else:
            segments.append((actor, 0, int(count)))
    return segments


def compress_schedule(actors: list[int], names: list[str]) -> str:
    out = []
    i = 0
    while i < len(actors):
        j = i
        while j < len(actors) and actors[j] == actors[i]:
            j += 1
        n = j - i
        out.append(names[actors[i]] if n == 1 else f"{names[actors[i]]}*{n}")
        i = j
    return ",".join(out)


@dataclass
class RunConfig:
    strategy: str = "schedule"
    seed: int | None = None
    schedule: str | None = None
    order: list[int] | None = None
    pct_depth: int = 2
    pct_steps: int = 0
    max_steps: int = 20000
    stop_on_violation: bool = False
    callback: Callable[[int, list[int], int], int] | None = None


def _run_spec(variant: Variant, compiled: CompiledScenario, cfg: RunConfig):
    ffi = variant.ffi
    run = ffi.new("FR_RUN_SPEC *")
    keep: list[Any] = [run]
    if cfg.strategy not in STRATEGIES:
        raise FlowraceError(
            f"unknown strategy {cfg.strategy!r}; strategies: {', '.join(STRATEGIES)}"
        )
    run.strategy = STRATEGIES[cfg.strategy]
    run.seed = (cfg.seed or 0) & 0xFFFFFFFFFFFFFFFF
    if cfg.schedule:
        segs = parse_schedule(cfg.schedule, compiled)
        arr = ffi.new("FR_SEGMENT[]", len(segs))
        for i, (a, kind, arg) in enumerate(segs):
            arr[i].actor, arr[i].kind, arr[i].arg = a, kind, arg
        run.n_segments = len(segs)
        run.segments = arr
        keep.append(arr)
    if cfg.order is not None:
        arr = ffi.new("int[]", list(cfg.order) or [0])
        run.n_order = len(cfg.order)
        run.order = arr
        keep.append(arr)
    run.pct_depth = cfg.pct_depth
    run.pct_steps = cfg.pct_steps
    run.max_steps = cfg.max_steps
    run.stop_on_violation = 1 if cfg.stop_on_violation else 0
    return run, keep


def _record(ffi, r) -> FlowRecord:
    fam = r.family
    la = bytes(ffi.buffer(r.local_addr, 16))
    ra = bytes(ffi.buffer(r.remote_addr, 16))
    if fam == 4:
        la_s, ra_s = str(ipaddress.IPv4Address(la[:4])), str(ipaddress.IPv4Address(ra[:4]))
    else:
        la_s, ra_s = str(ipaddress.IPv6Address(la)), str(ipaddress.IPv6Address(ra))
    return FlowRecord(
        r.handle, r.cookie, r.pid, fam, r.protocol, r.flags, la_s, ra_s, r.local_port,
        r.remote_port, r.packets_in, r.packets_out, r.bytes_in, r.bytes_out, r.timestamp, r.rtt,
        r.rtt_var, r.retransmits, r.conn_status,
    )


def _field_names(variant: Variant) -> list[tuple[int, str]]:
    cached = variant._specs.get("_fields")
    if cached is None:
        cached = sorted(
            (variant.lib.fr_flow_field_offset(name.encode()), name) for name in FLOW_FIELDS
        )
        variant._specs["_fields"] = cached
    return cached


def _obj_name(variant: Variant, kind: int, index: int, offset: int) -> str:
    lib, ffi = variant.lib, variant.ffi
    if kind == 1:
        fname = f"+{offset}"
        for off, name in _field_names(variant):
            if off <= offset:
                fname = name if off == offset or name == "Link" and offset < off + 16 else fname
        return f"flow{index}.{fname}" if index >= 0 else f"pool+{offset}"
    if kind == 2:
        name = ffi.string(lib.fr_global_name(index)).decode()
        if name == "openFlows":
            return f"openFlows[{offset // 16}]"
        return name
    return ""


def collect(variant: Variant, compiled: CompiledScenario, cfg: RunConfig) -> Outcome:
    """Read everything the C engine recorded about the execution that just ran."""
    lib, ffi = variant.lib, variant.ffi
    names = actor_names(compiled)
    ev_labels = [e.label for e in compiled.events] + [SETTLE]
    n = lib.fr_steps()
    st = ffi.new("FR_STEP *")
    steps: list[Step] = []
    actors_seq: list[int] = []
    for i in range(n):
        lib.fr_step(i, st)
        actors_seq.append(st.actor)
        label = ev_labels[st.event] if 0 <= st.event < len(ev_labels) else ""
        steps.append(
            Step(i, names[st.actor], OP_NAMES.get(st.op, str(st.op)),
                 _obj_name(variant, st.obj_kind, st.obj_index, st.obj_offset), st.value, label)
        )
    viol = ffi.new("FR_VIOLATION *")
    violations = []
    for i in range(lib.fr_violations()):
        lib.fr_violation(i, viol)
        violations.append(
            Violation(VIOLATION_KINDS.get(viol.kind, str(viol.kind)), viol.step,
                      names[viol.actor] if 0 <= viol.actor < len(names) else "",
                      viol.flow, symbolize(variant.module_path,
                                           ffi.string(viol.detail).decode()))
        )
    rec = ffi.new("FR_POLL_RECORD *")
    polls: list[PollRead] = []
    current: dict[int, PollRead] = {}
    poll_times = _poll_times(compiled)
    for i in range(lib.fr_records()):
        lib.fr_record(i, rec)
        key = rec.op
        if key not in current:
            if key < 0:
                p = PollRead(None, None, SETTLE, rec.step, None, final=True)
            else:
                a, op, _ = compiled.ops[key]
                p = PollRead(op.client, compiled.poll_numbers[key], names[a], rec.step,
                             poll_times.get(key))
            current[key] = p
            polls.append(p)
        (current[key].closed if rec.closed else current[key].open).append(_record(ffi, rec.rec))
    # polls that read nothing still happened: add them from the trace
    seen_ops = set(current)
    for k, (a, op, _) in enumerate(compiled.ops):
        if isinstance(op, Poll) and k not in seen_ops:
            step = _first_step_of(steps, compiled, k)
            if step is not None:
                polls.append(PollRead(op.client, compiled.poll_numbers[k], names[a], step,
                                      poll_times.get(k)))
    if -1 not in seen_ops and any(s.actor == SETTLE for s in steps):
        polls.append(PollRead(None, None, SETTLE, _settle_step(steps), None, final=True))
    polls.sort(key=lambda p: (p.final, p.step))
    stats_c = ffi.new("FR_STATS *")
    lib.fr_stats(stats_c)
    stats = {name: getattr(stats_c, name) for name, _ in ffi.typeof("FR_STATS").fields}
    fs = ffi.new("FR_FLOW_STATE *")
    flows = []
    for f in range(lib.fr_flow_count()):
        lib.fr_flow_state(f, fs)
        flows.append({
            "flow": f,
            "where": WHERE.get(fs.where, str(fs.where)),
            "freed": bool(fs.freed),
            "refcount": fs.refcount,
            "assoc_count": fs.assoc_count,
            "state": fs.state,
            "deletes_done": fs.deletes_done,
        })
    return Outcome(
        driver=variant.name if variant.builtin else str(variant.source),
        scenario=compiled.scenario.name,
        strategy=cfg.strategy,
        seed=cfg.seed,
        schedule=compress_schedule(actors_seq, names),
        steps=steps,
        violations=violations,
        polls=polls,
        stats=stats,
        flows=flows,
        compiled=compiled,
    )


def _first_step_of(steps: list[Step], compiled: CompiledScenario, op_index: int) -> int | None:
    label = compiled.events[compiled.op_events[op_index]].label
    for s in steps:
        if s.event == label:
            return s.index
    return None


def _settle_step(steps: list[Step]) -> int:
    for s in steps:
        if s.actor == SETTLE:
            return s.index
    return len(steps)


def _poll_times(compiled: CompiledScenario) -> dict[int, float]:
    """Simulated time of each poll: `at` if given, else 30 s after the client's last."""
    times: dict[int, float] = {}
    last: dict[str, float] = {}
    for k, (_, op, _) in enumerate(compiled.ops):
        if isinstance(op, Poll):
            t = op.at if op.at is not None else last.get(op.client, 0.0) + 30.0
            times[k] = t
            last[op.client] = t
    return times


def pct_steps_for(variant: Variant, compiled: CompiledScenario, samples: int = 8) -> int:
    """k for PCT's change points (drawn from 1..k): the most steps over a few seeded random
    executions of this variant on this scenario (deterministic; cached)."""
    cache = compiled.__dict__.setdefault("_pct_steps", {})
    key = (variant.name, variant.sha256)
    if key not in cache:
        spec = _scenario_spec(variant, compiled)[0]
        probe = variant.ffi.new("FR_RUN_SPEC *")
        probe.strategy = STRATEGIES["random"]
        probe.max_steps = 20000
        most = 1
        for seed in range(1, samples + 1):
            probe.seed = seed
            if variant.lib.fr_run(spec, probe) == 0:
                most = max(most, variant.lib.fr_steps())
        cache[key] = most
    return cache[key]


def run(
    driver: str | Variant,
    scenario: Scenario | CompiledScenario,
    *,
    schedule: str | None = None,
    seed: int | None = None,
    strategy: str | None = None,
    order: list[int] | None = None,
    callback: Callable[[int, list[int], int], int] | None = None,
    pct_depth: int = 2,
    pct_steps: int = 0,
    max_steps: int = 20000,
    stop_on_violation: bool = False,
) -> Outcome:
    """Run one controlled execution and return its outcome.

    Give exactly one of: `schedule` (a SPEC string, or a name the scenario gives one,
    such as "leak"), `seed` (seeded random choices, or
    PCT with ``strategy="pct"``), `order` (event ids, the identical-interleaving mode), or
    `callback` (``fn(step, enabled_actor_indices, current) -> actor index``)."""
    given = [n for n, v in (("schedule", schedule), ("seed", seed), ("order", order),
                            ("callback", callback)) if v is not None]
    if len(given) != 1:
        raise BadValue("run: give exactly one of schedule, seed, order or callback"
                       + (f" (got {' and '.join(given)})" if given else ""))
    if seed is not None:
        seed = check_seed(seed)
    max_steps = check_int(max_steps, "max_steps", 1, 100_000_000)
    pct_depth = check_int(pct_depth, "pct_depth", 1, 1000)
    pct_steps = check_int(pct_steps, "pct_steps", 0, 100_000_000)
    if strategy is not None and strategy not in STRATEGIES:
        raise BadValue(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r:.40}")
    if not isinstance(scenario, (Scenario, CompiledScenario)):
        raise BadType(f"scenario must be a Scenario, not {type(scenario).__name__}")
    variant = driver if isinstance(driver, Variant) else load_variant(driver)
    compiled = scenario if isinstance(scenario, CompiledScenario) else scenario.compile()
    if schedule is not None and schedule in compiled.scenario.notes:
        schedule = compiled.scenario.notes[schedule]  # a named schedule, e.g. "leak"
    if strategy is None:
        if callback is not None:
            strategy = "callback"
        elif order is not None:
            strategy = "event-order"
        elif schedule is None and seed is not None:
            strategy = "random"
        else:
            strategy = "schedule"
    if strategy == "pct" and not pct_steps:
        pct_steps = pct_steps_for(variant, compiled)
    cfg = RunConfig(strategy, seed, schedule, order, pct_depth, pct_steps, max_steps,
                    stop_on_violation, callback)
    spec = _scenario_spec(variant, compiled)[0]
    run_c, keep = _run_spec(variant, compiled, cfg)
    if callback is not None:
        def pick(step: int, mask: int, current: int) -> int:
            enabled = [i for i in range(32) if mask >> i & 1]
            return callback(step, enabled, current)

        set_pick_callback(variant, pick)
    try:
        rc = variant.lib.fr_run(spec, run_c)
    finally:
        if callback is not None:
            set_pick_callback(variant, None)
    del keep
    if rc != 0:
        text = variant.ffi.string(variant.lib.fr_error_text()).decode()
        names = actor_names(compiled)
        text = re.sub(r"actor (\d+)", lambda m: names[int(m.group(1))]
                      if int(m.group(1)) < len(names) else m.group(0), text)
        if rc in (1, 3):
            raise ScheduleError(text)
        raise FlowraceError(text or f"the engine failed (code {rc})")
    return collect(variant, compiled, cfg)


# ---- traces ---------------------------------------------------------------------------
TRACE_FORMAT = "flowrace-trace"


def driver_fields(variant: Variant) -> dict[str, Any]:
    """What a trace keeps of its driver: the name or path, the source's digest, and for a
    proposal the source itself, so that the trace replays when the file has moved, been
    deleted or been edited since (a trace is self-contained)."""
    doc: dict[str, Any] = {"driver": variant.name if variant.builtin else str(variant.source),
                           "driver_sha256": variant.sha256}
    if not variant.builtin:
        doc["driver_source"] = variant.source.read_text(errors="replace")
    return doc


def trace_document(outcome: Outcome, variant: Variant) -> dict[str, Any]:
    return {
        "format": TRACE_FORMAT,
        "version": 1,
        **driver_fields(variant),
        "driver": outcome.driver,
        "scenario": outcome.scenario,
        "strategy": outcome.strategy,
        "seed": outcome.seed,
        "schedule": outcome.schedule,
        "violations": sorted(outcome.kinds),
    }


def save_trace(outcome: Outcome, path: str | Path) -> Path:
    variant = load_variant(outcome.driver)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(trace_document(outcome, variant), indent=2) + "\n")
    return path


def load_trace(path: str | Path) -> dict[str, Any]:
    """Read and check a trace file: its size, JSON nesting and every field's type."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TRACE_BYTES + 1)
    except FileNotFoundError:
        raise FlowraceError(f"no such trace file: {path}") from None
    except OSError as exc:
        raise FlowraceError(f"cannot read trace {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_TRACE_BYTES:
        raise FlowraceError(f"{path} is not a flowrace trace (larger than "
                            f"{MAX_TRACE_BYTES >> 20} MB)")
    # the nesting, outside strings (the json module would recurse until RecursionError)
    brackets = re.sub(rb'"(?:[^"\\]|\\.)*"', b"", data).translate(
        None, delete=bytes(b for b in range(256) if b not in b"[]{}"))
    depth = 0
    for ch in brackets:
        depth += 1 if ch in b"[{" else -1
        if depth > 64:
            raise FlowraceError(f"{path} is not a flowrace trace (nested deeper than 64)")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSON, UTF-8, a 5000-digit integer
        raise FlowraceError(f"{path} is not a flowrace trace (not JSON: "
                            f"{str(exc)[:120]})") from None
    if not isinstance(doc, dict) or doc.get("format") != TRACE_FORMAT:
        raise FlowraceError(f"{path} is not a flowrace trace (no \"format\": \"{TRACE_FORMAT}\")")
    for key, typ in (("driver", str), ("scenario", str), ("schedule", str)):
        if not isinstance(doc.get(key), typ):
            raise FlowraceError(
                f"{path}: malformed trace, field {key!r} missing or not a {typ.__name__}"
            )
    optional = {"strategy": str, "crash": str, "driver_sha256": str, "version": int}
    for key, typ in optional.items():
        if doc.get(key) is not None and (not isinstance(doc[key], typ)
                                         or isinstance(doc[key], bool)):
            raise FlowraceError(f"{path}: malformed trace, field {key!r} is not a "
                                f"{typ.__name__}")
    seed = doc.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or not 0 <= seed < 1 << 64):
        raise FlowraceError(f"{path}: malformed trace, field 'seed' is not an integer "
                            "0..2**64-1")
    viol = doc.get("violations", [])
    if not isinstance(viol, list) or not all(isinstance(k, str) for k in viol):
        raise FlowraceError(f"{path}: malformed trace, field 'violations' is not a list of "
                            "names")
    if len(doc["schedule"]) > MAX_SCHEDULE_CHARS:
        raise FlowraceError(f"{path}: malformed trace, its schedule is too long")
    return doc


def trace_variant(doc: dict[str, Any], *, use_file: bool = False) -> tuple[Variant, str | None]:
    """The driver a trace ran, and a warning for the user (or None).

    A built-in variant by name. A proposal from the source embedded in the trace — the
    file at the recorded path when it still holds that source, else the embedded copy
    (rebuilt from the proposal cache): the trace replays what it recorded even when the
    file moved, was deleted or was edited since. With `use_file`, the file on disk runs,
    edited or not. A file that differs from the embedded source is always said loudly."""
    import hashlib

    from ..variants import cache_dir

    driver = doc["driver"]
    sha = doc.get("driver_sha256")
    embedded = doc.get("driver_source")
    path = Path(driver)
    if not isinstance(embedded, str) or not (driver.endswith(".c") or "/" in driver):
        variant = load_variant(driver)
        if sha and sha != variant.sha256:
            return variant, (f"{driver}'s source changed since this trace was saved, and the "
                             "trace does not embed it: the replay runs the current source")
        return variant, None
    digest = hashlib.sha256(embedded.encode()).hexdigest()
    on_disk = path.read_bytes() if path.is_file() else None
    same = on_disk is not None and hashlib.sha256(on_disk).hexdigest() in (digest, sha)
    if use_file:
        if on_disk is None:
            raise FlowraceError(f"--use-file: no such driver proposal file: {driver}")
        return load_variant(driver), (None if same else
                                      f"{driver} differs from the source embedded in this "
                                      "trace: replaying the edited file (--use-file)")
    if same:
        return load_variant(driver), None
    copy = cache_dir() / "traces" / digest[:16] / path.name
    if not copy.is_file() or copy.read_text(errors="replace") != embedded:
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(embedded)
    variant = load_variant(str(copy))
    if on_disk is None:
        return variant, None  # the file moved or is gone: the embedded source is the trace
    return variant, (f"WARNING: {driver} differs from the source embedded in this trace "
                     f"(sha256 {digest[:12]}...): replaying the embedded source, as "
                     "recorded; --use-file replays the edited file instead")


def replay(doc: dict[str, Any], scenario: Scenario, *, use_file: bool = False) -> Outcome:
    """Re-run a saved trace exactly; the outcome carries the trace's driver, strategy and
    seed (a proposal's from the source the trace embeds: `trace_variant`), and
    ``outcome.warning`` says when the proposal file on disk differs."""
    variant, warning = trace_variant(doc, use_file=use_file)
    outcome = run(variant, scenario, schedule=doc["schedule"], strategy="schedule",
                  max_steps=max(20000, len(doc["schedule"])))
    outcome.driver = doc["driver"]
    outcome.strategy = doc.get("strategy", "schedule")
    outcome.seed = doc.get("seed")
    if warning:
        outcome.__dict__["warning"] = warning
    return outcome


@dataclass
class BatchResult:
    """Many seeded executions run inside C: counts only (re-run a seed to see it)."""

    driver: str
    scenario: str
    strategy: str
    first_seed: int
    executions: int
    violating: int
    steps: int
    by_kind: dict[str, int]
    first_seed_by_kind: dict[str, int]


def run_batch(
    driver: str | Variant,
    scenario: Scenario | CompiledScenario,
    executions: int,
    *,
    first_seed: int = 1,
    strategy: str = "random",
    pct_depth: int = 2,
    pct_steps: int = 0,
    max_steps: int = 20000,
) -> BatchResult:
    """Run `executions` seeded executions (seeds first_seed, first_seed+1, ...) in one C call."""
    if strategy not in ("random", "pct"):
        raise FlowraceError("a batch runs the 'random' or 'pct' strategy")
    variant = driver if isinstance(driver, Variant) else load_variant(driver)
    compiled = scenario if isinstance(scenario, CompiledScenario) else scenario.compile()
    spec = _scenario_spec(variant, compiled)[0]
    if strategy == "pct" and not pct_steps:
        pct_steps = pct_steps_for(variant, compiled)
    cfg = RunConfig(strategy, first_seed, None, None, pct_depth, pct_steps, max_steps, True)
    run_c, keep = _run_spec(variant, compiled, cfg)
    out = variant.ffi.new("FR_BATCH_RESULT *")
    rc = variant.lib.fr_run_batch(spec, run_c, first_seed, executions, out)
    del keep
    if rc != 0:
        raise FlowraceError(variant.ffi.string(variant.lib.fr_error_text()).decode())
    by_kind = {VIOLATION_KINDS[k]: out.by_kind[k] for k in VIOLATION_KINDS if out.by_kind[k]}
    first = {VIOLATION_KINDS[k]: out.first_seed[k] for k in VIOLATION_KINDS if out.by_kind[k]}
    return BatchResult(variant.name, compiled.scenario.name, strategy, first_seed,
                       out.executions, out.violating, out.steps, by_kind, first)


# ---- lean executions (the comparison's fast path) --------------------------------------
#: FlowRecord's fields in order; a lean record is a plain tuple of them
RECORD_FIELDS = tuple(f for f in FlowRecord.__dataclass_fields__)
_TIMESTAMP = RECORD_FIELDS.index("timestamp")
_FINDING_STOPS = frozenset({"livelock", "deadlock"})


@dataclass(frozen=True, slots=True)
class LeanOutcome:
    """What one execution returned, without its step trace: what a comparison of many
    executions needs, about ten times cheaper than `Outcome`.

    `records` holds ``(op, closed, fields)`` per record read, in reading order: `op` the
    scenario operation of the poll (-1 the settle poll), `closed` whether it came from the
    closed-flows drain, `fields` a tuple in `FlowRecord` field order without the timestamp
    (the trace step at which it was read), which is in `timestamps`; `lean_record` makes a
    `FlowRecord` of both. `begun` lists the operations that began (every one when the
    execution finished)."""

    steps: int
    spin_steps: int
    kinds: frozenset[str]
    violations: tuple[Violation, ...]
    records: tuple[tuple[int, int, tuple], ...]
    timestamps: tuple[int, ...]
    flows: tuple[tuple[str, bool, int], ...]  # (where, freed, deletes done) per flow
    open_count: int  # flows in openFlows at the end (adds - removes)
    finished: bool  # every actor ran to its end (no livelock or deadlock stopped it)
    begun: frozenset[int]


def lean_record(fields: tuple, timestamp: int) -> FlowRecord:
    """The `FlowRecord` of a lean record's fields and timestamp."""
    return FlowRecord(*fields[:_TIMESTAMP], timestamp, *fields[_TIMESTAMP:])


def record_key(fields: tuple) -> tuple:
    """A record's fields (in `FlowRecord` order) without its timestamp, as in a
    `LeanOutcome`."""
    return fields[:_TIMESTAMP] + fields[_TIMESTAMP + 1:]


_CODES = {"uint64_t": "Q", "int64_t": "q", "uint32_t": "I", "int32_t": "i", "int": "i",
          "uint16_t": "H", "uint8_t": "B"}


def _poll_record_format(ffi) -> tuple[struct.Struct, list[str]]:
    """A struct reading FR_POLL_RECORD's op, closed and record fields in one call (the
    layout from cffi, so it follows fr_api.h)."""
    fields = [("op", "FR_POLL_RECORD"), ("closed", "FR_POLL_RECORD")]
    fields += [(name, "FR_FLOW_RECORD") for name, _ in ffi.typeof("FR_FLOW_RECORD").fields]
    base = ffi.offsetof("FR_POLL_RECORD", "rec")
    fmt, pos, names = "=", 0, []
    for name, struct_name in fields:
        offset = ffi.offsetof(struct_name, name) + (base if struct_name == "FR_FLOW_RECORD" else 0)
        ftype = dict(ffi.typeof(struct_name).fields)[name].type
        if ftype.kind == "array":
            code, size = f"{ftype.length}s", ffi.sizeof(ftype)
        else:
            code, size = _CODES[ftype.cname], ffi.sizeof(ftype)
        fmt += "x" * (offset - pos) + code
        pos = offset + size
        names.append(name)
    return struct.Struct(fmt), names


class LeanRunner:
    """Runs one variant on one scenario again and again with buffers allocated once.

    ``runner.run(order=[event ids])`` (the event-order strategy) or
    ``runner.run(seed=S, strategy="random"|"pct")``; returns a `LeanOutcome`.
    `run_full` gives the same execution as an `Outcome` (with its step-level schedule)."""

    def __init__(self, driver: str | Variant, scenario: Scenario | CompiledScenario, *,
                 max_steps: int = 20000, pct_depth: int = 2, pct_steps: int = 0):
        self.variant = driver if isinstance(driver, Variant) else load_variant(driver)
        self.compiled = (scenario if isinstance(scenario, CompiledScenario)
                         else scenario.compile())
        self.max_steps = max_steps
        self.pct_depth = pct_depth
        self.pct_steps = pct_steps or pct_steps_for(self.variant, self.compiled)
        ffi, lib = self.variant.ffi, self.variant.lib
        self._spec = _scenario_spec(self.variant, self.compiled)[0]
        self._run = ffi.new("FR_RUN_SPEC *")
        self._run.max_steps = max_steps
        self._run.pct_depth = pct_depth  # run()'s defaults
        self._run.pct_steps = self.pct_steps
        self._n_events = len(self.compiled.events)
        self._order = ffi.new("int[]", max(1, self._n_events))
        self._viol = ffi.new("FR_VIOLATION *")
        self._rec = ffi.new("FR_POLL_RECORD *")
        self._rec_buf = ffi.buffer(self._rec)
        self._rec_struct, names = _poll_record_format(ffi)
        # FlowRecord order without the timestamp, and where each field sits in the struct
        self._rec_pick = [names.index(f) for f in RECORD_FIELDS
                          if f not in ("timestamp", "local_addr", "remote_addr")]
        self._rec_ts = names.index("timestamp")
        self._rec_handle = names.index("handle")
        self._flow = ffi.new("FR_FLOW_STATE *")
        self._stats = ffi.new("FR_STATS *")
        self._step = ffi.new("FR_STEP *")
        self._spins = getattr(lib, "fr_spin_steps", None) if "fr_spin_steps" in dir(lib) else None
        sc = self.compiled.scenario
        self._addresses = {
            (f.handle if f.handle is not None else i + 1): (f.local[0], f.remote[0])
            for i, f in enumerate(sc.flows)
        }
        self._assocs = [f.associations for f in sc.flows]
        self._n_ops = len(self.compiled.ops)

    def run(self, *, order: list[int] | tuple[int, ...] | None = None, seed: int | None = None,
            strategy: str | None = None) -> LeanOutcome:
        lib, ffi = self.variant.lib, self.variant.ffi
        run = self._run
        if order is not None:
            if len(order) != self._n_events:
                raise FlowraceError(
                    f"an event order lists every event once ({self._n_events}), not {len(order)}"
                )
            self._order[0:self._n_events] = order
            run.strategy = STRATEGIES["event-order"]
            run.n_order = self._n_events
            run.order = self._order
            run.seed = 0
        else:
            run.strategy = STRATEGIES[strategy or "random"]
            run.n_order = 0
            run.seed = (seed or 0) & 0xFFFFFFFFFFFFFFFF
        rc = lib.fr_run(self._spec, run)
        if rc != 0:
            raise FlowraceError(ffi.string(lib.fr_error_text()).decode()
                                or f"the engine failed (code {rc})")
        violations = []
        viol = self._viol
        names = None
        for i in range(lib.fr_violations()):
            lib.fr_violation(i, viol)
            if names is None:
                names = actor_names(self.compiled)
            violations.append(Violation(
                VIOLATION_KINDS.get(viol.kind, str(viol.kind)), viol.step,
                names[viol.actor] if 0 <= viol.actor < len(names) else "", viol.flow,
                symbolize(self.variant.module_path, ffi.string(viol.detail).decode())))
        kinds = frozenset(v.kind for v in violations)
        records = []
        stamps = []
        rec, buf, unpack = self._rec, self._rec_buf, self._rec_struct.unpack_from
        pick, at_ts, at_handle = self._rec_pick, self._rec_ts, self._rec_handle
        for i in range(lib.fr_records()):
            lib.fr_record(i, rec)
            v = unpack(buf)
            addr = self._addresses.get(v[at_handle])
            if addr is None:
                full = _record(ffi, rec.rec)
                addr = (full.local_addr, full.remote_addr)
            f = [v[j] for j in pick]
            records.append((v[0], v[1], (*f[:6], addr[0], addr[1], *f[6:])))
            stamps.append(v[at_ts])
        flows = []
        fs = self._flow
        for f in range(lib.fr_flow_count()):
            lib.fr_flow_state(f, fs)
            flows.append((WHERE.get(fs.where, str(fs.where)), bool(fs.freed), fs.deletes_done))
        lib.fr_stats(self._stats)
        open_count = self._stats.open_table_adds - self._stats.open_table_removes
        n_steps = lib.fr_steps()
        finished = not (kinds & _FINDING_STOPS)
        spins = self._spins() if self._spins is not None else None
        begun: frozenset[int]
        if finished and spins is not None:
            begun = frozenset(range(self._n_ops))
        else:
            spins, began = self._scan_steps(n_steps)
            begun = frozenset(range(self._n_ops)) if finished else frozenset(began)
        return LeanOutcome(n_steps, spins, kinds, tuple(violations), tuple(records),
                           tuple(stamps), tuple(flows), open_count, finished, begun)

    def _scan_steps(self, n_steps: int) -> tuple[int, set[int]]:
        """Spin steps and the operations that began, read from the step trace."""
        lib, st = self.variant.lib, self._step
        events = self.compiled.events
        spins = 0
        began: set[int] = set()
        for i in range(n_steps):
            lib.fr_step(i, st)
            if st.op >= 18:  # YieldProcessor, KeStallExecutionProcessor
                spins += 1
            elif st.op == 1 and 0 <= st.event < len(events):
                began.add(events[st.event].op)
        return spins, began

    def lingering(self, outcome: LeanOutcome) -> int:
        """Flows still in openFlows at the end although all their associations were
        deleted: the driver's leak as user space sees it."""
        return sum(1 for f, (where, _, done) in enumerate(outcome.flows)
                   if where == "open" and done >= self._assocs[f])

    def run_full(self, *, order: list[int] | tuple[int, ...] | None = None,
                 seed: int | None = None, strategy: str | None = None) -> Outcome:
        if order is not None:
            return run(self.variant, self.compiled, order=list(order),
                       max_steps=self.max_steps)
        return run(self.variant, self.compiled, seed=seed, strategy=strategy or "random",
                   max_steps=self.max_steps, pct_depth=self.pct_depth, pct_steps=self.pct_steps)
