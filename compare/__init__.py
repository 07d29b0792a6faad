"""flowrace's comparison layer: scenarios, identical interleavings, the matrix, the CLI."""

from .scenarios import get_scenario, register_scenario, scenario_names

__all__ = ["get_scenario", "register_scenario", "scenario_names"]
