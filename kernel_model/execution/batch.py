"""Many executions from one call: a seeded batch run inside C (`run_batch`: counts only),
and the comparison's fast path (`LeanRunner`: one variant on one scenario again and again,
buffers allocated once, no step trace)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .._symbols import symbolize
from ..errors import FlowraceError
from ..scenario import CompiledScenario, Scenario
from ..variants import Variant, load_variant
from .outcome import VIOLATION_KINDS, WHERE, FlowRecord, Outcome, Violation
from .runner import STRATEGIES, RunConfig, _record, _run_spec, _scenario_spec, pct_steps_for, run
from .schedule import actor_names


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
