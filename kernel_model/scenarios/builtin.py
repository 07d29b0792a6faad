"""The built-in scenarios. A scenario is data (kernel_model.scenario); users write their
own the same way and register them with `register_scenario`."""

from __future__ import annotations

from kernel_model.errors import FlowraceError
from kernel_model.scenario import (
    Actor,
    Classify,
    Delete,
    Flow,
    LatePacket,
    Poll,
    Restart,
    Scenario,
)

CAFEBABE = 0xCAFEBABE

_SCENARIOS: dict[str, Scenario] = {}


def register_scenario(scenario: Scenario) -> Scenario:
    _SCENARIOS[scenario.name] = scenario
    return scenario


def scenario_names() -> list[str]:
    return list(_SCENARIOS)


def get_scenario(name: str) -> Scenario:
    try:
        return _SCENARIOS[name]
    except KeyError:
        raise FlowraceError(
            f"unknown scenario {name!r}; scenarios: {', '.join(_SCENARIOS)}"
        ) from None


LINGERING_RST = register_scenario(Scenario(
    name="lingering-rst",
    description=(
        "One TCP flow. CPU0 handles a packet carrying a received RST (through an "
        "association's context), then one late data packet that finds the flow by handle. "
        "CPU1 runs the four delete notifications. The agent polls three times."
    ),
    flows=[Flow(cookie=CAFEBABE)],
    actors=[
        Actor("cpu0", 0, [Classify(0, "rst-recv", bytes=60, inbound=True, assoc=0),
                          LatePacket(0, "data", bytes=200)]),
        Actor("cpu1", 1, [Delete(0, a) for a in range(4)]),
        Actor("agent", 2, [Poll("c1") for _ in range(3)]),
    ],
    defer_delete=True,
    notes={
        # The late packet takes its reference, then CPU1 runs every delete: the last
        # one sees 3, not 2, and the move is skipped for good.
        "leak": "cpu0@late0.ref,cpu1*",
        # CPU0 is done before the deletes start: the last delete sees 2 and moves.
        "clean": "cpu0*,cpu1*",
    },
))


LATE_PACKETS = register_scenario(Scenario(
    name="late-packets",
    description=(
        "lingering-rst with packets that keep arriving after the RST: two late data packets "
        "find the flow by handle, so a lingering flow's counters keep moving between polls "
        "and the agent before the workaround ships its failure again on every such poll."
    ),
    flows=[Flow(cookie=CAFEBABE)],
    actors=[
        Actor("cpu0", 0, [Classify(0, "rst-recv", bytes=60, inbound=True, assoc=0),
                          LatePacket(0, "data", bytes=200),
                          LatePacket(0, "data", bytes=300)]),
        Actor("cpu1", 1, [Delete(0, a) for a in range(4)]),
        Actor("agent", 2, [Poll("c1") for _ in range(3)]),
    ],
    notes={
        # leak through late0, report once, then late1 moves the counters before poll1
        "climb": "cpu0@late0.ref,cpu1*,cpu0@late0.release,agent@agent.poll0,cpu0*,agent*",
        "clean": "cpu0*,cpu1*",
    },
))

CLEAN_CLOSE = register_scenario(Scenario(
    name="clean-close",
    description=(
        "A connection that ends with a FIN: data, then the FIN, both through an "
        "association; the four delete notifications; two polls. Nothing failed, and the close "
        "must be neither lost nor suppressed."
    ),
    flows=[Flow(cookie=0xC105ED)],
    actors=[
        Actor("cpu0", 0, [Classify(0, "data", bytes=1500, assoc=0),
                          Classify(0, "fin", bytes=60, assoc=1)]),
        Actor("cpu1", 1, [Delete(0, a) for a in range(4)]),
        Actor("agent", 2, [Poll("c1") for _ in range(2)]),
    ],
    notes={"clean": "cpu0*,cpu1*"},
))


def rst_storm(flows: int = 4, cpus: int = 2, polls: int = 2) -> Scenario:
    """N RST-terminated connections over `cpus` classify CPUs and `cpus` delete CPUs, as in
    the upstream reproduction (many concurrent RST connections): each connection gets its
    RST through an association, then a late packet by handle, while its delete
    notifications run spread over the delete CPUs (WFP gives no order across
    associations)."""
    classify: list[list] = [[] for _ in range(cpus)]
    deletes: list[list] = [[] for _ in range(cpus)]
    for f in range(flows):
        classify[f % cpus] += [Classify(f, "rst-recv", bytes=60, inbound=True, assoc=0),
                               LatePacket(f, "data", bytes=100)]
        for a in range(4):
            deletes[(f + a) % cpus].append(Delete(f, a))
    actors = [Actor(f"cpu{c}", c, classify[c]) for c in range(cpus)]
    actors += [Actor(f"cpu{cpus + c}", cpus + c, deletes[c]) for c in range(cpus) if deletes[c]]
    actors.append(Actor("agent", 2 * cpus, [Poll("c1") for _ in range(polls)]))
    return Scenario(
        name="rst-storm" if (flows, cpus, polls) == (4, 2, 2) else f"rst-storm-{flows}x{cpus}",
        description=f"{flows} RST-terminated connections over {cpus} classify CPUs and {cpus} "
                    "delete CPUs, with late packets by handle; the agent polls "
                    f"{polls} times.",
        flows=[Flow(cookie=0x5700 + f, handle=f + 1, local=("10.0.0.2", 40000 + f))
               for f in range(flows)],
        actors=actors,
        buckets=16,
    )


RST_STORM = register_scenario(rst_storm())

SPLIT_DELETES = register_scenario(Scenario(
    name="split-deletes",
    description=(
        "lingering-rst with the delete notifications on two CPUs (associations 0-1 on CPU1, "
        "2-3 on CPU2): the last two can run at the same time, so a fix must decide who is "
        "last from the value its interlocked call returns."
    ),
    flows=[Flow(cookie=CAFEBABE)],
    actors=[
        Actor("cpu0", 0, [Classify(0, "rst-recv", bytes=60, inbound=True, assoc=0),
                          LatePacket(0, "data", bytes=200)]),
        Actor("cpu1", 1, [Delete(0, 0), Delete(0, 1)]),
        Actor("cpu2", 2, [Delete(0, 2), Delete(0, 3)]),
        Actor("agent", 3, [Poll("c1") for _ in range(2)]),
    ],
    notes={"leak": "cpu0@late0.ref,cpu1*,cpu2*"},
))

PREEMPTED_HOLDER = register_scenario(Scenario(
    name="preempted-holder",
    description=(
        "The reference holder cannot run while the delete notifications do: a PASSIVE-level "
        "worker on CPU1 looks the flow up by handle and holds it, and the delete DPC lands "
        "on the same CPU1 and preempts it. A fix that spins until the holder lets go hangs "
        "here (bugcheck 0x133 in the field)."
    ),
    flows=[Flow(cookie=CAFEBABE)],
    actors=[
        Actor("cpu0", 0, [Classify(0, "rst-recv", bytes=60, inbound=True, assoc=0)]),
        Actor("worker1", 1, [LatePacket(0, "data", bytes=200, irql="passive")]),
        Actor("dpc1", 1, [Delete(0, a) for a in range(4)]),
        Actor("agent", 2, [Poll("c1") for _ in range(2)]),
    ],
    notes={"leak": "cpu0*,worker1@worker1.late0.ref,dpc1*"},
))

CLIENT_RESTART = register_scenario(Scenario(
    name="client-restart",
    description=(
        "A flow lingers and the agent restarts (every client and baseline is lost) between "
        "polls: the restarted client sees the lingering flow for the first time again, with "
        "its close and its failure — the workaround's known limit. The first poll comes "
        "once the driver's side is over (the late packet released, the last delete done), "
        "so a re-reported close can only be a lingering flow."
    ),
    flows=[Flow(cookie=CAFEBABE)],
    actors=[
        Actor("cpu0", 0, [Classify(0, "rst-recv", bytes=60, inbound=True, assoc=0),
                          LatePacket(0, "data", bytes=200)]),
        Actor("cpu1", 1, [Delete(0, a) for a in range(4)]),
        # Without the wait, a poll that reads the RST'd flow before its deletes, then a
        # restart, then the drain, re-reports the close with any driver (the agent lost
        # the baseline): the restart's own limit, not the lingering flow's.
        Actor("agent", 2, [Poll("c1", after=("cpu0.late0", "cpu1.delete3")), Restart("c1"),
                           Poll("c1")]),
    ],
    notes={"leak": "cpu0@late0.ref,cpu1*"},
))

TWO_CLIENTS = register_scenario(Scenario(
    name="two-clients",
    description=(
        "lingering-rst with two agent clients polling in turn: closed connections go to "
        "every client's buffer, and each client sees the flow's first poll once. Each "
        "client is a consumer of its own (its stream is judged on its own against the "
        "ground truth), and both have polled once before the RST, so both are registered "
        "when the flow closes."
    ),
    flows=[Flow(cookie=CAFEBABE)],
    actors=[
        # A client registers on its first poll; flows drained before that never reach it.
        Actor("cpu0", 0, [Classify(0, "rst-recv", bytes=60, inbound=True, assoc=0,
                                   after=("agent.poll1",)),
                          LatePacket(0, "data", bytes=200)]),
        Actor("cpu1", 1, [Delete(0, a) for a in range(4)]),
        Actor("agent", 2, [Poll("c1"), Poll("c2"), Poll("c1"), Poll("c2")]),
    ],
    notes={"leak": "agent@agent.poll1,cpu0@late0.ref,cpu1*",
           "clean": "agent@agent.poll1,cpu0*,cpu1*"},
))
