"""Generated driver variants and micro scenarios for the soundness harness.

A program is the contract's hooks built from blocks (interlocked operations on the
flow's RefCount/AssocCount/State, table-lock and flow-lock sections, bounded and
unbounded retries with YieldProcessor or KeStallExecutionProcessor, state claims,
moves under and outside the lock, sweep moves, drain frees) and deliberate bugs
(random statements inserted, dropped or changed). It runs in the interpreter variant
`interp.c` (one build for every program) and renders as an equivalent C proposal
(`Program.to_c`) that makes the same shim calls in the same order: the file a
developer replays a failure with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from hypothesis import strategies as st

from kernel_model import Actor, Classify, Delete, Flow, LatePacket, Poll, Scenario

# opcodes: interp.c's enum, in the same order
(INC, DEC, CAS, XCHG, READ, WRITE, LOCKED, MOVE, MOVEL, FREE, RETRY, FLAG, IFFLAG, REFUSE,
 ADD, OUTSIDE, FIND, PREAD, PWRITE, PDEC, VREAD, RELEASE) = range(22)
BRANCHING = {DEC, CAS, READ, LOCKED, RETRY, IFFLAG, OUTSIDE, FIND, PREAD, PDEC, VREAD}
#: plain and volatile accesses in generated programs (FLOWRACE_SOUNDNESS_PLAIN=0 leaves them
#: out, to replay a failure found before they were generated)
PLAIN = os.environ.get("FLOWRACE_SOUNDNESS_PLAIN", "1") == "1"
PLAIN_OPS = (PREAD, PWRITE, PDEC, VREAD) if PLAIN else ()
FIELDS = ("RefCount", "AssocCount", "State", "Lock")
R, A, S, L = 0, 1, 2, 3  # L: the flow's spin lock as a LONG, only in deliberate bugs
TABLE, FLOWLOCK = 0, 1
HOOKS = ("Initialize", "ClassifyReference", "ClassifyDereference", "LookupReference",
         "DeleteNotify", "ClosedDrained", "Sweep")


@dataclass(frozen=True)
class Stmt:
    op: int
    a: int = 0
    b: int = 0
    c: int = 0
    then: tuple[Stmt, ...] = ()
    other: tuple[Stmt, ...] = ()


Block = tuple[Stmt, ...]


@dataclass(frozen=True)
class Program:
    ref: Block
    deref: Block
    lookup: Block  # under the table lock, on the flow found
    delete: Block
    drained: Block
    sweep: Block   # under the table lock, for each open flow; empty: no sweep
    notes: tuple[str, ...] = field(default=(), compare=False)

    def blocks(self) -> tuple[Block, ...]:
        return ((), self.ref, self.deref, self.lookup, self.delete, self.drained, self.sweep)

    def encode(self) -> str:
        out: list[int] = []

        def block(b: Block) -> None:
            out.append(len(b))
            for s in b:
                out.extend((s.op, s.a, s.b, s.c))
                if s.op in BRANCHING:
                    block(s.then)
                    block(s.other)

        for b in self.blocks():
            block(b)
        return " ".join(map(str, out))

    def size(self) -> int:
        def n(b: Block) -> int:
            return sum(1 + n(s.then) + n(s.other) for s in b)

        return sum(n(b) for b in self.blocks())

    # ---- the C rendering ---------------------------------------------------------
    def to_c(self, title: str = "a generated program") -> str:
        lines = [
            "/*",
            f" * {title}",
            " *",
            " * Written by flowrace's soundness harness (tests/explore/soundness): the",
            " * program that the interpreter variant ran, as a proposal. Replay it with",
            " *   flowrace explore --driver THIS.c --scenario ... (see the .py beside it)",
            " */",
            '#include "flowdata.h"',
            "",
            "VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)",
            "{",
            "    Flow->RefCount = 1 + (LONG)Associations;",
            "    Flow->AssocCount = (LONG)Associations;",
            "    Flow->State = FLOW_STATE_OPEN;",
            "}",
            "",
        ]
        lines += _hook("BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow)", self.ref,
                       ret="return !refuse;")
        lines += _hook("VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)", self.deref)
        lines += [
            "static BOOLEAN LookupBody(PFLOW_CONTEXT Flow)",
            "{",
            *_body(self.lookup, ret="return !refuse;"),
            "}",
            "",
            "PFLOW_CONTEXT FlowVariantLookupReference(UINT64 FlowHandle)",
            "{",
            "    KLOCK_QUEUE_HANDLE h;",
            "    PFLOW_CONTEXT flow;",
            "    BOOLEAN keep = TRUE;",
            "",
            "    KeAcquireInStackQueuedSpinLock(&g_OpenFlowsLock, &h);",
            "    flow = FlowTableLookupLocked(FlowHandle);",
            "    if (flow != NULL)",
            "        keep = LookupBody(flow);",
            "    KeReleaseInStackQueuedSpinLock(&h);",
            "    return keep ? flow : NULL;",
            "}",
            "",
        ]
        lines += _hook("VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)",
                       self.delete, pre="    UNREFERENCED_PARAMETER(Association);")
        lines += _hook("VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow)", self.drained)
        if self.sweep:
            lines += [
                "static VOID SweepOne(PFLOW_CONTEXT Flow, PKLOCK_QUEUE_HANDLE hs)",
                "{",
                *_body(self.sweep),
                "}",
                "",
                "VOID FlowVariantSweep(VOID)",
                "{",
                "    KLOCK_QUEUE_HANDLE h;",
                "    PFLOW_CONTEXT flow, next;",
                "",
                "    KeAcquireInStackQueuedSpinLock(&g_OpenFlowsLock, &h);",
                "    for (flow = FlowTableFirstOpenLocked(); flow != NULL; flow = next) {",
                "        next = FlowTableNextOpenLocked(flow);",
                "        SweepOne(flow, &h);",
                "    }",
                "    KeReleaseInStackQueuedSpinLock(&h);",
                "}",
            ]
        else:
            lines += ["VOID FlowVariantSweep(VOID)", "{", "}"]
        return "\n".join(lines) + "\n"


def _hook(signature: str, body: Block, ret: str = "", pre: str = "") -> list[str]:
    out = [signature, "{"]
    if pre:
        out.append(pre)
    out += _body(body, ret=ret)
    return out + ["}", ""]


def _body(body: Block, ret: str = "") -> list[str]:
    decl = ["    BOOLEAN flag = FALSE, refuse = FALSE;", "    KLOCK_QUEUE_HANDLE h0, h1;",
            "    (void)flag; (void)refuse; (void)h0; (void)h1;"]
    counter = [0]
    code = _stmts(body, 1, counter)
    return decl + code + ([f"    {ret}"] if ret else [])


def _f(k: int) -> str:
    return "(LONG volatile *)&Flow->Lock" if k == L else f"&Flow->{FIELDS[k]}"


def _stmts(block: Block, depth: int, counter: list[int]) -> list[str]:
    pad = "    " * depth
    out: list[str] = []
    for s in block:
        if s.op == INC:
            out.append(f"{pad}InterlockedIncrement({_f(s.a)});")
        elif s.op in (DEC, CAS, READ, PREAD, PDEC, VREAD):
            plain = f"*(LONG *){_f(s.a)}"  # the field without its volatile: plain C
            cond = {DEC: f"InterlockedDecrement({_f(s.a)}) == 0",
                    CAS: f"InterlockedCompareExchange({_f(s.a)}, {s.b}, {s.c}) == {s.c}",
                    READ: f"ReadNoFence({_f(s.a)}) == {s.b}",
                    PREAD: f"{plain} == {s.b}",
                    PDEC: f"--{plain} == 0",
                    VREAD: f"*(volatile LONG *){_f(s.a)} == {s.b}"}[s.op]
            out += _branch(pad, cond, s, depth, counter)
        elif s.op == XCHG:
            out.append(f"{pad}InterlockedExchange({_f(s.a)}, {s.b});")
        elif s.op == PWRITE:
            out.append(f"{pad}*(LONG *){_f(s.a)} = {s.b};")
        elif s.op == WRITE:
            out.append(f"{pad}WriteNoFence({_f(s.a)}, {s.b});")
        elif s.op == ADD:
            out.append(f"{pad}InterlockedExchangeAdd({_f(s.a)}, {s.b});")
        elif s.op == LOCKED:
            lock = "&g_OpenFlowsLock" if s.a == TABLE else "&Flow->Lock"
            handle = "h0" if s.a == TABLE else "h1"
            out.append(f"{pad}KeAcquireInStackQueuedSpinLock({lock}, &{handle});")
            out += _stmts(s.then, depth, counter)
            out.append(f"{pad}KeReleaseInStackQueuedSpinLock(&{handle});")
        elif s.op == MOVE:
            out.append(f"{pad}FlowTableMoveToClosed(Flow);")
        elif s.op == MOVEL:
            out.append(f"{pad}FlowTableMoveToClosedLocked(Flow);")
        elif s.op == FREE:
            out.append(f"{pad}FlowFree(Flow);")
        elif s.op == RETRY:
            i = f"i{counter[0]}"
            counter[0] += 1
            head = (f"for (int {i} = 0; {i} < {s.a} && !flag; {i}++) {{" if s.a
                    else "while (!flag) {")
            spin = "YieldProcessor();" if s.b == 0 else "KeStallExecutionProcessor(1);"
            out.append(pad + head)
            out += _stmts(s.then, depth + 1, counter)
            out += [f"{pad}    if (flag)", f"{pad}        break;"]
            if s.other:
                out += [f"{pad}    if ({i} == {s.a - 1}) {{",
                        *_stmts(s.other, depth + 2, counter), f"{pad}    }}"]
            out += [f"{pad}    {spin}", f"{pad}}}"]
        elif s.op == FLAG:
            out.append(f"{pad}flag = TRUE;")
        elif s.op == IFFLAG:
            out += _branch(pad, "flag", s, depth, counter)
        elif s.op == FIND:  # under the table lock
            out += _branch(pad, "FlowTableLookupLocked(Flow->FlowHandle) == Flow", s, depth,
                           counter)
        elif s.op == REFUSE:
            out.append(f"{pad}refuse = TRUE;")
        elif s.op == RELEASE:  # a deliberate bug: a release without the acquisition
            lock = "&g_OpenFlowsLock" if s.a == TABLE else "&Flow->Lock"
            out.append(f"{pad}KeReleaseSpinLockFromDpcLevel({lock});")
        elif s.op == OUTSIDE:  # only in the sweep: drop its hold of the table lock
            out.append(f"{pad}KeReleaseInStackQueuedSpinLock(hs);")
            out += _stmts(s.then, depth, counter)
            out.append(f"{pad}KeAcquireInStackQueuedSpinLock(&g_OpenFlowsLock, hs);")
        else:  # pragma: no cover - the generator makes no other op
            raise ValueError(f"unknown op {s.op}")
    return out


def _branch(pad: str, cond: str, s: Stmt, depth: int, counter: list[int]) -> list[str]:
    out = [f"{pad}if ({cond}) {{", *_stmts(s.then, depth + 1, counter), f"{pad}}}"]
    if s.other:
        out[-1] = f"{pad}}} else {{"
        out += [*_stmts(s.other, depth + 1, counter), f"{pad}}}"]
    return out


# ---- the generator ---------------------------------------------------------------------
def _ifzero(op: int, a: int, then: Block = (), other: Block = (), b: int = 0, c: int = 0):
    return Stmt(op, a, b, c, tuple(then), tuple(other))


DEC_FREE = _ifzero(DEC, R, [Stmt(FREE)])
small = st.integers(0, 3)


@st.composite
def simple_stmt(draw, plain: bool = PLAIN) -> Stmt:
    """One statement that takes no block: the material of deliberate bugs."""
    extra = (PREAD, PWRITE, PDEC, VREAD) if plain else ()
    op = draw(st.sampled_from((INC, DEC, XCHG, READ, WRITE, ADD, CAS, MOVE, MOVEL, FREE,
                               RELEASE, *extra)))
    if op == RELEASE:
        return Stmt(RELEASE, draw(st.sampled_from((TABLE, FLOWLOCK))))
    k = draw(st.sampled_from((R, A, S, L)))  # a lock word too: no step may take it for a lock's
    if op in (DEC, READ, CAS, PREAD, PDEC, VREAD):
        then = draw(st.sampled_from(((), (Stmt(FREE),), (Stmt(MOVE),), (Stmt(FLAG),))))
        return Stmt(op, k, draw(small), draw(small), then, ())
    return Stmt(op, k, draw(small), draw(st.sampled_from((-1, 1))) if op == ADD else 0)


def spin(draw) -> int:
    return draw(st.sampled_from((0, 0, 1)))  # YieldProcessor mostly


def retries(draw) -> int:
    return draw(st.sampled_from((0, 1, 2, 3, 4)))  # 0: unbounded


@st.composite
def ref_hook(draw) -> Block:
    return draw(st.sampled_from((
        (Stmt(INC, R),),
        (_ifzero(READ, S, [Stmt(INC, R)], [Stmt(REFUSE)], b=0),),
        (Stmt(LOCKED, FLOWLOCK, then=(Stmt(INC, R),)),),
        (_ifzero(CAS, S, [Stmt(INC, R)], [Stmt(REFUSE)], b=0, c=0),),
    )))


@st.composite
def deref_hook(draw) -> Block:
    return draw(st.sampled_from((
        (DEC_FREE,),
        (Stmt(DEC, R),),
        (Stmt(XCHG, S, 1), DEC_FREE),
        (Stmt(LOCKED, FLOWLOCK, then=(_ifzero(DEC, R, [Stmt(FLAG)]),)),
         Stmt(IFFLAG, then=(Stmt(FREE),))),
        # last reference out moves it (claim while still holding)
        (_ifzero(CAS, R, [_ifzero(CAS, S, [Stmt(MOVE)], b=2, c=1)], b=2, c=2), DEC_FREE),
    )))


@st.composite
def lookup_hook(draw) -> Block:
    return draw(st.sampled_from((
        (Stmt(INC, R),),
        (_ifzero(READ, S, [Stmt(INC, R)], [Stmt(REFUSE)], b=2),),
        (_ifzero(READ, S, [Stmt(REFUSE)], [Stmt(INC, R)], b=2),),
    )))


@st.composite
def delete_hook(draw, plain: bool = PLAIN) -> Block:
    shape = draw(st.sampled_from(("original", "assoc", "retry", "retry-locked", "last-ref",
                                  "flow-lock", "spin-read", "wait-moved",
                                  *(("plain-assoc", "state-under-lock", "volatile-check")
                                    if plain else ()))))
    n, sp = retries(draw), spin(draw)
    if shape == "original":
        return (_ifzero(CAS, R, [Stmt(MOVE)], b=2, c=2), DEC_FREE)
    if shape == "assoc":
        claim = draw(st.sampled_from(((_ifzero(CAS, S, [Stmt(MOVE)], b=2, c=0),),
                                      (Stmt(MOVE),))))
        return (_ifzero(DEC, A, claim), DEC_FREE)
    if shape == "retry":
        body = (_ifzero(CAS, R, [Stmt(MOVE), Stmt(FLAG)], b=2, c=2),)
        give_up = draw(st.sampled_from(((), (Stmt(XCHG, S, 1),))))
        return (_ifzero(DEC, A, [Stmt(RETRY, n, sp, then=body),
                                 Stmt(IFFLAG, other=give_up)]), DEC_FREE)
    if shape == "retry-locked":  # the shape of issue 10: retries under the table lock
        body = (Stmt(LOCKED, TABLE, then=(_ifzero(CAS, R, [Stmt(MOVEL), Stmt(FLAG)], b=1, c=2),)),)
        return (_ifzero(DEC, A, [Stmt(RETRY, n or 2, sp, then=body),
                                 Stmt(IFFLAG, other=(Stmt(XCHG, S, 1), Stmt(DEC, R)))],
                        [Stmt(DEC, R)]),)
    if shape == "last-ref":
        return (_ifzero(DEC, A, [Stmt(XCHG, S, 1)]),
                _ifzero(CAS, R, [_ifzero(CAS, S, [Stmt(MOVE)], b=2, c=1)], b=2, c=2),
                DEC_FREE)
    if shape == "flow-lock":
        return (Stmt(LOCKED, FLOWLOCK, then=(_ifzero(DEC, A, [Stmt(FLAG)]),)),
                Stmt(IFFLAG, then=(Stmt(MOVE),)), DEC_FREE)
    if shape == "plain-assoc":  # issue 11's: a plain decrement of the association count
        return (_ifzero(PDEC, A, [Stmt(MOVE)]), DEC_FREE)
    if shape == "state-under-lock":  # plain state word, only under the flow's own lock
        claim = (_ifzero(PREAD, S, [Stmt(PWRITE, S, 2), Stmt(FLAG)], b=0),)
        return (_ifzero(DEC, A, [Stmt(LOCKED, FLOWLOCK, then=claim),
                                 Stmt(IFFLAG, then=(Stmt(MOVE),))]), DEC_FREE)
    if shape == "volatile-check":  # check-then-act on a volatile flag: a window, no race
        return (_ifzero(DEC, A, [_ifzero(VREAD, S, [Stmt(XCHG, S, 2), Stmt(MOVE)], b=0)]),
                DEC_FREE)
    if shape == "wait-moved":
        # mark it CLOSING for the sweep, then wait (bounded or not) until it has left
        # openFlows: each try reads the lists (a wide spin)
        body = (Stmt(LOCKED, TABLE, then=(Stmt(FIND, other=(Stmt(FLAG),)),)),)
        return (_ifzero(DEC, A, [Stmt(XCHG, S, 1), Stmt(RETRY, n, sp, then=body)]),
                DEC_FREE)
    # spin-read: wait (bounded or not) until the count reads "table + me"; later tries
    # read the state too, which the first one did not
    body = (_ifzero(READ, R, [Stmt(FLAG)], b=2),
            _ifzero(READ, S, [Stmt(FLAG)], b=draw(small)))
    if draw(st.booleans()):  # the last try looks at the state, which the others did not
        body = body[:1]
        last = (_ifzero(READ, S, [Stmt(FLAG)], b=draw(small)),)
        return (_ifzero(DEC, A, [Stmt(RETRY, n or 2, sp, then=body, other=last),
                                 Stmt(IFFLAG, then=(Stmt(MOVE),))]), DEC_FREE)
    return (_ifzero(DEC, A, [Stmt(RETRY, n, sp, then=body),
                             Stmt(IFFLAG, then=(Stmt(MOVE),))]), DEC_FREE)


@st.composite
def drained_hook(draw) -> Block:
    return draw(st.sampled_from(((DEC_FREE,), (Stmt(FREE),), (Stmt(DEC, R),))))


@st.composite
def sweep_hook(draw) -> Block:
    return draw(st.sampled_from((
        (),
        (_ifzero(READ, S, [_ifzero(CAS, R, [_ifzero(CAS, S, [Stmt(MOVEL)], b=2, c=1)],
                                    b=1, c=1)], b=1),),
        (_ifzero(READ, S, [_ifzero(READ, R, [Stmt(MOVEL)], b=1)], b=1),),
        # checks under the lock, moves after dropping it (a lookup fits in between)
        (_ifzero(READ, S, [_ifzero(READ, R, [Stmt(OUTSIDE, then=(Stmt(MOVE),))], b=1)],
                 b=1),),
    )))


@st.composite
def mutate(draw, block: Block, plain: bool = PLAIN) -> Block:
    """A deliberate bug, sometimes: a statement inserted, dropped or replaced."""
    kind = draw(st.sampled_from(("none", "none", "insert", "drop", "replace")))
    items = list(block)
    if kind == "insert":
        items.insert(draw(st.integers(0, len(items))), draw(simple_stmt(plain)))
    elif kind in ("drop", "replace") and items:
        i = draw(st.integers(0, len(items) - 1))
        if kind == "drop":
            items.pop(i)
        else:
            items[i] = draw(simple_stmt(plain))
    return tuple(items)


@st.composite
def programs(draw, plain: bool = PLAIN) -> Program:
    """`plain`: plain and volatile accesses too (default FLOWRACE_SOUNDNESS_PLAIN)."""
    parts = [draw(ref_hook()), draw(deref_hook()), draw(lookup_hook()), draw(delete_hook(plain)),
             draw(drained_hook()), draw(sweep_hook())]
    target = draw(st.integers(0, len(parts)))  # at most one hook gets a bug
    if target < len(parts):
        parts[target] = draw(mutate(parts[target], plain))
    return Program(*parts)


@st.composite
def scenarios(draw) -> Scenario:
    """Two or three simulated CPUs around one flow: a classify and/or late packets,
    the deletes (on one CPU or split), sometimes a poll, sometimes a packet worker at
    PASSIVE on the delete DPC's CPU (it can be preempted)."""
    assocs = draw(st.integers(1, 2))
    packets = []
    if draw(st.booleans()):
        packets.append(Classify(0, draw(st.sampled_from(("data", "rst-recv"))), bytes=60,
                                assoc=0))
    for _ in range(draw(st.integers(0 if packets else 1, 2 - len(packets)))):
        packets.append(LatePacket(0, "data", bytes=100))
    preempted = draw(st.integers(0, 4)) == 0
    split = assocs == 2 and draw(st.booleans())
    actors = [Actor("cpu0", 1 if preempted else 0,
                    [replace(p, irql="passive") if preempted else p for p in packets])]
    if split:
        actors += [Actor("cpu1", 1, [Delete(0, 0)]), Actor("cpu2", 2, [Delete(0, 1)])]
    else:
        actors.append(Actor("cpu1", 1, [Delete(0, a) for a in range(assocs)]))
    if not split and draw(st.booleans()):
        actors.append(Actor("agent", 3, [Poll("c1")]))
    # any order: the searches try the lowest-numbered actor first, and a loss may hide
    # behind one order (an agent listed first once lost a final state to the stateful
    # search's reduction)
    actors = draw(st.permutations(actors))
    return Scenario(name="generated", description="soundness harness",
                    flows=[Flow(cookie=1, associations=assocs)], actors=actors)


def scenario_source(sc: Scenario) -> str:
    """The scenario as Python a developer can paste."""
    return ("from kernel_model import *  # noqa\n"
            f"scenario = {sc!r}\n")


def features(program: Program) -> set[str]:
    """What of the explorer's machinery a program exercises (statically): the harness
    asserts the generator reaches every one."""
    found: set[str] = set()

    def walk(block: Block, in_retry: bool, in_lock: bool) -> None:
        for s in block:
            if s.op == RETRY:
                found.add("unbounded retry" if s.a == 0 else "bounded retry")
                found.add("KeStallExecutionProcessor" if s.b else "YieldProcessor")
                if s.other:
                    found.add("a last try that reads more (a burst's new word)")
            if in_retry and s.op == LOCKED:
                found.add("a lock taken in every try")
            if in_retry and s.op == FIND:
                found.add("a try that reads the lists (a wide spin)")
            if s.op == LOCKED and s.a == FLOWLOCK:
                found.add("the flow's own lock")
            if s.op == CAS and s.a == S:
                found.add("a state claim")
            if s.op == OUTSIDE:
                found.add("a sweep that moves after dropping the lock")
            if s.op == MOVEL:
                found.add("a move under the table lock")
            if s.op == FREE:
                found.add("a free")
            if s.op in (PREAD, PWRITE, PDEC):
                found.add("a plain access")
            if s.op == VREAD:
                found.add("a volatile access")
            if s.op == RELEASE:
                found.add("a release of a lock not taken")
            if s.op == MOVEL and not in_lock:
                found.add("a list operation without the table's lock")
            if s.a == L and s.op in (INC, DEC, XCHG, READ, WRITE, ADD, CAS, PREAD, PWRITE, PDEC,
                                     VREAD):
                found.add("a lock word used as data")
            walk(s.then, in_retry or s.op == RETRY, in_lock or s.op == LOCKED)
            if s.op != RETRY:
                walk(s.other, in_retry, in_lock)
            else:
                walk(s.other, True, in_lock)

    for i, b in enumerate(program.blocks()):
        walk(b, False, i in (3, 6))  # the lookup and the sweep run under the table lock
    if program.sweep:
        found.add("a sweep")
    return found


ALL_FEATURES = {
    "unbounded retry", "bounded retry", "KeStallExecutionProcessor", "YieldProcessor",
    "a last try that reads more (a burst's new word)", "a lock taken in every try",
    "a try that reads the lists (a wide spin)", "the flow's own lock", "a state claim",
    "a sweep that moves after dropping the lock", "a move under the table lock", "a free",
    "a sweep", *(("a plain access", "a volatile access") if PLAIN else ()),
    "a release of a lock not taken", "a lock word used as data",
    "a list operation without the table's lock",
}
