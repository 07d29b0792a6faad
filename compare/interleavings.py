"""The interleavings of a scenario live in the model layer now:
`kernel_model.scenarios.interleavings` (a property of the scenario's event DAG). This name
stays because users import it; the same functions and constants, not copies."""

from kernel_model.scenarios.interleavings import *  # noqa: F403
