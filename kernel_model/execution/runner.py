"""Run one controlled execution of a driver variant on a scenario (`run`), and read what
the C engine recorded about it (`collect`): the Python face of `fr_run`."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
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
from .outcome import (
    OP_NAMES,
    SETTLE,
    VIOLATION_KINDS,
    WHERE,
    FlowRecord,
    Outcome,
    PollRead,
    Step,
    Violation,
)
from .schedule import actor_names, compress_schedule, parse_schedule

STRATEGIES = {"schedule": 0, "random": 1, "event-order": 2, "callback": 3, "pct": 4}
FLOW_FIELDS = ("Link", "Where", "RefCount", "AssocCount", "State", "Lock", "Flags", "PacketsIn",
               "PacketsOut", "BytesIn", "BytesOut", "Retransmits", "ConnStatus")


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
