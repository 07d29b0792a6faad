"""PCT draws its change points from 1..k, where k is the scenario's length in steps."""

from kernel_model import load_variant, run
from kernel_model.execution import pct_steps_for
from kernel_model.scenarios import get_scenario


def test_change_points_span_the_whole_execution():
    """Regression: without an explicit k the engine fell back to 64, so on rst-storm
    (about 150 steps) no change point ever fell in the second half of an execution."""
    variant = load_variant("original")
    storm = get_scenario("rst-storm").compile()
    k = pct_steps_for(variant, storm)
    assert k > 100
    for seed in range(1, 6):
        implicit = run(variant, storm, seed=seed, strategy="pct", pct_depth=3)
        explicit = run(variant, storm, seed=seed, strategy="pct", pct_depth=3, pct_steps=k)
        assert implicit.schedule == explicit.schedule
