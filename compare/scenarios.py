"""The built-in scenarios and their registry live in the model layer now:
`kernel_model.scenarios` (a scenario is a kernel-model input). This name stays because
users import it (``from compare.scenarios import register_scenario``); it is the same
registry, not a copy."""

from kernel_model.scenarios.builtin import *  # noqa: F403
