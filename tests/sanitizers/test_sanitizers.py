"""The C model under the compilers' sanitizers: ASan+UBSan in controlled mode, TSan in
stress mode. Built-in correct variants are clean; a real memory error and a real data
race are reported (so the jobs are live); naive variants are caught by flowrace's own
checks, which the sanitizers cannot see (the pool keeps freed flows in quarantine)."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kernel_model import builtin_names
from kernel_model.sanitize import asan_run, tsan_stress

C_DIR = Path(__file__).parents[1] / "kernel" / "c"
CORRECT = ["assoc-count", "dec-and-lock", "flow-lock", "last-ref", "retry-bounded-sweep", "retry"]


@pytest.fixture(scope="module")
def asan_results():
    with ThreadPoolExecutor(2) as pool:
        return dict(zip(builtin_names(), pool.map(asan_run, builtin_names()), strict=True))


@pytest.fixture(scope="module")
def tsan_results():
    with ThreadPoolExecutor(2) as pool:
        return dict(zip(builtin_names(), pool.map(tsan_stress, builtin_names()), strict=True))


def test_every_builtin_variant_is_asan_ubsan_clean(asan_results):
    for name, res in asan_results.items():
        assert res.clean, f"{name}: {res.reports or res.output[-2000:]}"


def test_correct_variants_have_no_finding_under_asan(asan_results):
    for name in CORRECT:
        findings = asan_results[name].findings
        if name == "retry":  # its spin cannot end when the holder is preempted
            assert all("preempted-holder" in f and "livelock" in f for f in findings)
        else:
            assert findings == [], name


def test_naive_variants_are_caught_by_flowrace_not_asan(asan_results):
    for name in ("original", "assoc-count-free-on-drain", "assoc-count-no-once",
                 "last-ref-late-flag", "retry-bounded", "flow-lock-inverted"):
        assert asan_results[name].findings, name
        assert asan_results[name].clean, name


def test_asan_reports_a_write_past_a_flow():
    res = asan_run(C_DIR / "overflow_write.c", executions=5)
    assert not res.clean
    assert any("AddressSanitizer" in r for r in res.reports), res.output[-2000:]


def test_every_builtin_variant_is_tsan_clean_in_stress_mode(tsan_results):
    for name, res in tsan_results.items():
        assert res.clean, f"{name}: {res.reports or res.output[-2000:]}"


def test_stress_findings_under_tsan(tsan_results):
    assert tsan_results["original"].findings  # the leak, on real threads
    for name in ("assoc-count", "last-ref", "dec-and-lock", "flow-lock"):
        assert tsan_results[name].findings == [], name


def test_tsan_reports_a_real_data_race():
    res = tsan_stress(C_DIR / "racy_plain_count.c")
    assert any("ThreadSanitizer" in r for r in res.reports), res.output[-2000:]


def test_flowrace_sanitize_command():
    import subprocess
    import sys

    racy = subprocess.run([sys.executable, "-m", "compare.cli", "sanitize", "--driver",
                           str(C_DIR / "racy_plain_count.c"), "--tool", "thread"],
                          capture_output=True, text=True, timeout=600)
    assert racy.returncode == 1 and "data race" in racy.stdout
    clean = subprocess.run([sys.executable, "-m", "compare.cli", "sanitize", "--driver",
                            "assoc-count", "--tool", "thread"],
                           capture_output=True, text=True, timeout=600)
    assert clean.returncode == 0 and "clean" in clean.stdout
    bad = subprocess.run([sys.executable, "-m", "compare.cli", "sanitize", "--driver", "nope"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown driver" in bad.stderr


def test_flowrace_findings_under_a_sanitizer_exit_1():
    """Regression: `flowrace sanitize` exited 0 while listing flowrace's own findings
    (the shipped driver's leak under TSan's stress run): a finding is a finding."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "compare.cli", "sanitize", "--driver",
                           "original", "--tool", "thread", "--connections", "2000"],
                          capture_output=True, text=True, timeout=600)
    assert "flowrace's checks" in proc.stdout and "leak" in proc.stdout, proc.stdout
    assert proc.returncode == 1
