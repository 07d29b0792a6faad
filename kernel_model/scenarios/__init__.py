"""Which scenarios exist, and the interleavings of each.

A scenario is data (`kernel_model.scenario`: flows, actors, their operations); it compiles
to the C harness's script. This package holds the built-in scenarios and the registry
users add theirs to (`builtin`), and the interleavings of a scenario: the linear
extensions of its event DAG, the same list for every driver variant (`interleavings`).

    >>> from kernel_model.scenarios import get_scenario, interleavings_for
    >>> len(interleavings_for(get_scenario("lingering-rst").compile()))
    2475
"""

from .builtin import get_scenario, register_scenario, scenario_names
from .interleavings import Interleavings, count_interleavings, interleavings_for

__all__ = ["Interleavings", "count_interleavings", "get_scenario", "interleavings_for",
           "register_scenario", "scenario_names"]
