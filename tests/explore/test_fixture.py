"""The pytest fixture, as a user's test would use it."""

pytest_plugins = ["pytester"]


def test_fixture_proves_a_correct_variant(explore):
    assert explore("assoc-count", "lingering-rst", strategy="dfs").complete
    assert not explore("assoc-count", "lingering-rst").violations


def test_failing_test_shows_the_counterexample(pytester):
    pytester.makepyfile("""
        def test_original(explore):
            res = explore("original", "lingering-rst")
            assert not res.violations
    """)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*flowrace: original x lingering-rst: leak*", "*cpu1.delete3*"])
