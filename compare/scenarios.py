"""The built-in scenarios. A scenario is data (kernel_model.scenario); users write their
own the same way and register them with `register_scenario`."""

from __future__ import annotations

from kernel_model.errors import FlowraceError
from kernel_model.scenario import Actor, Classify, Delete, Flow, LatePacket, Poll, Scenario

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
