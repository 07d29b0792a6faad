"""The scenario language: flows, actors (simulated CPUs) and their operations.

A scenario is data. Each actor runs its operations in order on one CPU; each
operation is one or two *events* (a classify is "reference taken" then
"released"), the labels the harness puts around the variant's hooks. Events form
a DAG (program order plus the environment's causality rules); every linear
extension of it is one interleaving, the same for every driver variant.

Environment rules the harness enforces (DESIGN.md):
  * every flow is in openFlows, with all its associations, before anything runs;
  * a classify through association `a` takes its reference before `a`'s
    flowDeleteFn starts, and, when the scenario says WFP defers deletes
    (``defer_delete=True``), releases it before that delete starts;
  * a late packet finds the flow by handle under the table lock; it may overlap
    anything.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import networkx as nx

from ._checks import check_int, check_number
from .errors import BadType, BadValue, FlowraceError

#: the harness's actor names, which a scenario's actors cannot take
RESERVED_ACTORS = frozenset({"settle"})
#: actors of one scenario (the engine's limit is 32, one of them the settle actor)
MAX_ACTORS = 31
_NAME = re.compile(r"[A-Za-z0-9_][\w.-]*")

PACKETS = {
    "data": 0,
    "rst-recv": 1,
    "rst-sent": 2,
    "ackrst": 3,
    "timeout": 4,
    "fin": 5,
    "retransmit": 6,
}
#: the failure (errno) each terminal packet means for the connection
PACKET_FAILURE = {"rst-recv": 104, "rst-sent": 104, "ackrst": 111, "timeout": 110}
IRQLS = {"passive": 0, "dispatch": 2}


@dataclass(frozen=True)
class Flow:
    """One TCP (or UDP) connection the driver tracks."""

    cookie: int
    handle: int | None = None
    protocol: str = "tcp"
    associations: int = 4
    pid: int = 4242
    family: int = 4
    local: tuple[str, int] = ("10.0.0.2", 50000)
    remote: tuple[str, int] = ("192.0.2.10", 443)
    outbound: bool = True


@dataclass(frozen=True)
class Classify:
    """A transport classify through association `assoc`'s context."""

    flow: int = 0
    packet: str = "data"
    bytes: int = 1500
    inbound: bool = False
    assoc: int = 0
    name: str | None = None
    after: tuple[str, ...] = ()
    irql: str = "dispatch"


@dataclass(frozen=True)
class LatePacket:
    """A transport classify without a WFP context: finds the flow by handle."""

    flow: int = 0
    packet: str = "data"
    bytes: int = 200
    inbound: bool = True
    name: str | None = None
    after: tuple[str, ...] = ()
    irql: str = "dispatch"


@dataclass(frozen=True)
class Delete:
    """flowDeleteFn for one association of a flow (a DPC)."""

    flow: int = 0
    assoc: int = 0
    name: str | None = None
    after: tuple[str, ...] = ()
    irql: str = "dispatch"


@dataclass(frozen=True)
class Poll:
    """User space polls for `client`: open-flows read, then closed-flows drain."""

    client: str = "c1"
    at: float | None = None  # simulated seconds; default: 30 s after the client's last poll
    name: str | None = None
    after: tuple[str, ...] = ()
    irql: str = "passive"


@dataclass(frozen=True)
class Restart:
    """The agent restarts (every client and baseline is lost). No driver work."""

    client: str = "c1"
    name: str | None = None
    after: tuple[str, ...] = ()
    irql: str = "passive"


@dataclass(frozen=True)
class Expire:
    """`client` stops polling for more than 2 minutes and expires. No driver work."""

    client: str = "c1"
    name: str | None = None
    after: tuple[str, ...] = ()
    irql: str = "passive"


Op = Classify | LatePacket | Delete | Poll | Restart | Expire
_KIND = {Classify: 1, LatePacket: 2, Delete: 3, Poll: 4, Restart: 5, Expire: 5}
_SHORT = {Classify: "classify", LatePacket: "late", Delete: "delete", Poll: "poll",
          Restart: "restart", Expire: "expire"}


@dataclass(frozen=True)
class Actor:
    """A simulated CPU running `ops` in order."""

    name: str
    cpu: int
    ops: tuple[Op, ...]

    def __init__(self, name: str, cpu: int, ops: Iterable[Op]):
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name.isdigit():
            raise BadValue(f"Actor name must be letters, digits, '_', '.', '-' (not only "
                           f"digits), not {name!r:.40}")
        if name in RESERVED_ACTORS:
            raise BadValue(f"Actor name {name!r} is reserved (the harness's own actor)")
        check_int(cpu, "Actor cpu", 0, MAX_ACTORS - 1)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "cpu", cpu)
        object.__setattr__(self, "ops", tuple(ops))


@dataclass(frozen=True)
class GroundTruth:
    """What really happened to the connections: closes and failures by errno."""

    closed: int
    failures: dict[int, int]

    @property
    def failure_count(self) -> int:
        return sum(self.failures.values())

    @property
    def rate(self) -> float | None:
        return 100.0 * self.failure_count / self.closed if self.closed else None


@dataclass(frozen=True)
class Event:
    id: int
    actor: int
    op: int  # index in the compiled op list
    label: str


@dataclass
class CompiledScenario:
    """A scenario flattened into what the C harness runs, plus its event DAG."""

    scenario: Scenario
    ops: list[tuple[int, Op, str]]  # (actor index, op, op name) in actor order
    actor_ranges: list[tuple[int, int]]
    events: list[Event]
    op_events: list[int]  # first event of each op
    after: list[list[int]]  # events each op waits for
    poll_numbers: list[int]
    clients: list[str]

    def label_to_event(self, label: str) -> int:
        for ev in self.events:
            if ev.label == label:
                return ev.id
        raise FlowraceError(
            f"unknown event label {label!r}; labels: {', '.join(e.label for e in self.events)}"
        )

    def event_graph(self) -> nx.DiGraph:
        """Program order and causality between the scenario's events."""
        g = nx.DiGraph()
        for ev in self.events:
            g.add_node(ev.id, label=ev.label, actor=ev.actor)
        for ev, nxt in zip(self.events, self.events[1:], strict=False):
            if ev.actor == nxt.actor:
                g.add_edge(ev.id, nxt.id)
        for k, deps in enumerate(self.after):
            for d in deps:
                g.add_edge(d, self.op_events[k])
        return g


@dataclass(frozen=True)
class Scenario:
    """Flows, actors, and the environment's choices. Ground truth is derived from the
    operations unless given: a flow whose associations are all deleted really closed,
    and it really failed with the errno of its terminal packet."""

    name: str
    description: str
    flows: tuple[Flow, ...]
    actors: tuple[Actor, ...]
    defer_delete: bool = True
    open_capacity: int = 32767
    buckets: int = 16
    truth: GroundTruth | None = None
    notes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "flows", tuple(self.flows))
        object.__setattr__(self, "actors", tuple(self.actors))
        object.__setattr__(self, "notes", dict(self.notes))
        self._check()

    def _check(self) -> None:
        """Every field of the scenario, its flows, actors and operations: a ValueError or
        TypeError (also a FlowraceError) that names the offending argument."""
        def isint(v: object, name: str, lo: int, hi: int) -> None:
            check_int(v, name, lo, hi)

        if not isinstance(self.name, str) or not self.name:
            raise BadType(f"Scenario name must be a non-empty string, not {self.name!r:.40}")
        isint(self.open_capacity, "open_capacity", 1, 100_000_000)
        isint(self.buckets, "buckets", 1, 1 << 20)
        if not isinstance(self.defer_delete, bool):
            raise BadType("defer_delete must be True or False")
        for i, f in enumerate(self.flows):
            where = f"flows[{i}]"
            if not isinstance(f, Flow):
                raise BadType(f"{where} must be a Flow, not {type(f).__name__}")
            isint(f.cookie, f"{where}.cookie", 0, (1 << 64) - 1)
            if f.handle is not None:
                isint(f.handle, f"{where}.handle", 1, (1 << 64) - 1)
            isint(f.associations, f"{where}.associations", 1, 64)
            isint(f.pid, f"{where}.pid", 0, (1 << 32) - 1)
            if f.family not in (4, 6) or isinstance(f.family, bool):
                raise BadValue(f"{where}.family must be 4 or 6, not {f.family!r:.40}")
            if f.protocol not in ("tcp", "udp"):
                raise BadValue(f"{where}.protocol must be 'tcp' or 'udp', not "
                               f"{f.protocol!r:.40}")
            for end in ("local", "remote"):
                pair = getattr(f, end)
                if not (isinstance(pair, tuple) and len(pair) == 2
                        and isinstance(pair[0], str)):
                    raise BadType(f"{where}.{end} must be (address, port)")
                try:
                    address_bytes(pair[0])
                except ValueError:
                    raise BadValue(f"{where}.{end}: {pair[0]!r:.60} is not an IP address") \
                        from None
                isint(pair[1], f"{where}.{end} port", 0, 65535)
        if len(self.actors) > MAX_ACTORS:
            raise BadValue(f"actors: at most {MAX_ACTORS}, not {len(self.actors)}")
        seen: set[str] = set()
        deletes: set[tuple[int, int]] = set()
        for a, actor in enumerate(self.actors):
            if not isinstance(actor, Actor):
                raise BadType(f"actors[{a}] must be an Actor, not {type(actor).__name__}")
            if actor.name in seen:
                raise BadValue(f"actors[{a}]: two actors named {actor.name!r}")
            seen.add(actor.name)
            for k, op in enumerate(actor.ops):
                where = f"actor {actor.name} ops[{k}] ({type(op).__name__})"
                if type(op) not in _KIND:
                    raise BadType(f"actor {actor.name} ops[{k}]: not an operation: {op!r:.60}")
                if op.name is not None and not (isinstance(op.name, str)
                                                and _NAME.fullmatch(op.name)):
                    raise BadValue(f"{where}: name must be letters, digits, '_', '.', '-'")
                if not isinstance(op.after, tuple) or not all(isinstance(x, str)
                                                              for x in op.after):
                    raise BadType(f"{where}: after must be a tuple of operation names")
                if op.irql not in IRQLS:
                    raise BadValue(f"{where}: irql must be 'passive' or 'dispatch', not "
                                   f"{op.irql!r:.40}")
                if isinstance(op, (Poll, Restart, Expire)):
                    if not isinstance(op.client, str) or not op.client:
                        raise BadType(f"{where}: client must be a non-empty string")
                    if isinstance(op, Poll) and op.at is not None:
                        check_number(op.at, f"{where}: at", 0.0, 1e12)
                    continue
                if not self.flows:
                    raise BadValue(f"{where}: flow {op.flow!r:.40}: the scenario has no flows")
                isint(op.flow, f"{where}: flow", 0, len(self.flows) - 1)
                n_assoc = self.flows[op.flow].associations
                if isinstance(op, (Classify, Delete)):
                    if isinstance(op.assoc, int) and not isinstance(op.assoc, bool) and not (
                            0 <= op.assoc < n_assoc):
                        raise BadValue(f"{where}: assoc {op.assoc}: flow {op.flow} has "
                                       f"{n_assoc} associations (0..{n_assoc - 1})")
                    isint(op.assoc, f"{where}: assoc", 0, n_assoc - 1)
                if isinstance(op, Delete):
                    if (op.flow, op.assoc) in deletes:
                        raise BadValue(f"{where}: association {op.assoc} of flow {op.flow} is "
                                       "deleted twice (flowDeleteFn runs once per association)")
                    deletes.add((op.flow, op.assoc))
                else:
                    if op.packet not in PACKETS:
                        raise BadValue(f"{where}: unknown packet {op.packet!r:.40}; known: "
                                       + ", ".join(PACKETS))
                    isint(op.bytes, f"{where}: bytes", 0, (1 << 31) - 1)

    # ---- ground truth ------------------------------------------------------------
    def ground_truth(self) -> GroundTruth:
        if self.truth is not None:
            return self.truth
        deleted: dict[int, set[int]] = {}
        terminal: dict[int, str] = {}
        for actor in self.actors:
            for op in actor.ops:
                if isinstance(op, Delete):
                    deleted.setdefault(op.flow, set()).add(op.assoc)
                elif isinstance(op, (Classify, LatePacket)) and op.packet in PACKET_FAILURE:
                    terminal.setdefault(op.flow, op.packet)
        closed = 0
        failures: dict[int, int] = {}
        for f, flow in enumerate(self.flows):
            if len(deleted.get(f, ())) >= flow.associations:
                closed += 1
                if f in terminal:
                    code = PACKET_FAILURE[terminal[f]]
                    failures[code] = failures.get(code, 0) + 1
        return GroundTruth(closed=closed, failures=failures)

    # ---- compilation ---------------------------------------------------------------
    def compile(self) -> CompiledScenario:
        if not self.actors:
            raise FlowraceError(f"scenario {self.name!r} has no actors")
        ops: list[tuple[int, Op, str]] = []
        ranges = []
        names: dict[str, int] = {}
        for a, actor in enumerate(self.actors):
            start = len(ops)
            counters: dict[type, int] = {}
            for op in actor.ops:
                if type(op) not in _KIND:
                    raise FlowraceError(f"actor {actor.name}: unknown operation {op!r}")
                k = counters.get(type(op), 0)
                counters[type(op)] = k + 1
                name = op.name or f"{actor.name}.{_SHORT[type(op)]}{k}"
                if name in names:
                    raise FlowraceError(f"scenario {self.name!r}: two operations named {name!r}")
                names[name] = len(ops)
                if not isinstance(op, (Poll, Restart, Expire)) and not (
                    0 <= op.flow < len(self.flows)
                ):
                    raise FlowraceError(f"{name}: no flow {op.flow} in scenario {self.name!r}")
                if op.irql not in IRQLS:
                    raise FlowraceError(f"{name}: irql must be 'passive' or 'dispatch'")
                if isinstance(op, (Classify, LatePacket)) and op.packet not in PACKETS:
                    raise FlowraceError(
                        f"{name}: unknown packet {op.packet!r}; known: {', '.join(PACKETS)}"
                    )
                ops.append((a, op, name))
            ranges.append((start, len(ops) - start))

        events: list[Event] = []
        op_events: list[int] = []
        for k, (a, op, name) in enumerate(ops):
            op_events.append(len(events))
            if isinstance(op, (Classify, LatePacket)):
                events.append(Event(len(events), a, k, f"{name}.ref"))
                events.append(Event(len(events), a, k, f"{name}.release"))
            else:
                events.append(Event(len(events), a, k, name))

        def last_event(k: int) -> int:
            op = ops[k][1]
            return op_events[k] + (1 if isinstance(op, (Classify, LatePacket)) else 0)

        after: list[list[int]] = [[] for _ in ops]
        for k, (_, op, name) in enumerate(ops):
            for dep in op.after:
                if dep not in names:
                    raise FlowraceError(f"{name}: waits for unknown operation {dep!r}")
                after[k].append(last_event(names[dep]))
        # the environment's causality: a classify through an association comes
        # before that association's delete (and ends before it when WFP defers)
        for k, (a, op, _) in enumerate(ops):
            if not isinstance(op, Classify):
                continue
            for j, (b, other, _) in enumerate(ops):
                if isinstance(other, Delete) and other.flow == op.flow and other.assoc == op.assoc:
                    ev = last_event(k) if self.defer_delete else op_events[k]
                    if b != a and ev not in after[j]:
                        after[j].append(ev)
        for k, deps in enumerate(after):
            if len(deps) > 8:
                raise FlowraceError(f"{ops[k][2]}: waits for more than 8 events")

        clients: list[str] = []
        poll_numbers: list[int] = []
        per_client: dict[str, int] = {}
        for _, op, _ in ops:
            if isinstance(op, (Poll, Restart, Expire)) and op.client not in clients:
                clients.append(op.client)
            if isinstance(op, Poll):
                poll_numbers.append(per_client.get(op.client, 0))
                per_client[op.client] = per_client.get(op.client, 0) + 1
            else:
                poll_numbers.append(-1)
        compiled = CompiledScenario(self, ops, ranges, events, op_events, after, poll_numbers,
                                    clients)
        if not nx.is_directed_acyclic_graph(compiled.event_graph()):
            raise FlowraceError(f"scenario {self.name!r}: its ordering constraints form a cycle")
        return compiled

    def actor_index(self, name_or_index: str) -> int:
        for i, actor in enumerate(self.actors):
            if actor.name == name_or_index:
                return i
        if name_or_index.isdigit() and int(name_or_index) < len(self.actors):
            return int(name_or_index)
        raise FlowraceError(
            f"unknown actor {name_or_index!r}; actors: "
            + ", ".join(a.name for a in self.actors)
        )


def address_bytes(text: str) -> bytes:
    addr = ipaddress.ip_address(text)
    return addr.packed.ljust(16, b"\0")
