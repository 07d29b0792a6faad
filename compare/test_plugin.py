"""The pytest plugin from outside: options, user errors that fail only their own tests,
the summary matrix, and `pytest tests/` untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pytest_run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_user_errors_fail_their_own_tests_and_the_session_goes_on(tmp_path):
    broken = tmp_path / "broken.c"
    broken.write_text('#include "flowdata.h"\nint nope( { }\n')
    good = tmp_path / "good.c"
    good.write_text((ROOT / "c_src" / "variants" / "original.c").read_text())
    out_json, out_md, traces = tmp_path / "m.json", tmp_path / "m.md", tmp_path / "traces"
    proc = pytest_run(
        "compare/test_matrix.py", "-k", "test_cell and clean-close", "-q",
        "--fix", str(broken), "--fix", str(good), "--agent", "no_such_module:Agent",
        "--sweep", "2", "--seed", "3", "--matrix-json", str(out_json),
        "--matrix-md", str(out_md), "--matrix-traces", str(traces))
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text  # some tests failed; not an internal or usage error
    assert "INTERNALERROR" not in text and "Traceback" not in text
    assert "broken.c does not compile" in text
    assert "cannot import module 'no_such_module'" in text
    assert "flowrace: input errors" in text
    assert "flowrace comparison matrix" in text and "seed 3" in text
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    assert failed and all("broken.c" in line or "no_such_module" in line for line in failed)
    assert any("good.c" in line for line in proc.stdout.splitlines()) or "passed" in text
    doc = json.loads(out_json.read_text())
    drivers = {c["driver"] for c in doc["cells"]}
    assert "good.c" in drivers and "broken.c" not in drivers
    assert "| driver |" in out_md.read_text()


def test_options_are_registered_only_with_compare(tmp_path):
    proc = pytest_run("tests/agent", "--co", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = pytest_run("compare/test_matrix.py", "--co", "-q", "--interleavings", "0")
    assert proc.returncode == 4 and "--interleavings must be at least 1" in proc.stderr


def test_fix_reports_every_finding_kind_that_validate_reports(tmp_path):
    """Regression: `pytest compare/ --fix` showed only the leak of a proposal where
    validate's comparison phase also found a use after free. Both now classify the same
    executions through compare.findings: the same kinds, scenario by scenario."""
    from compare.validate import validate

    fix = tmp_path / "late_flag.c"
    fix.write_text((ROOT / "c_src" / "variants" / "last_ref_late_flag.c").read_text())
    proc = pytest_run("compare/test_matrix.py", "-k", "test_cell and late_flag", "-q",
                      "--fix", str(fix), "--sweep", "40", "--interleavings", "60",
                      "--matrix-traces", str(tmp_path / "traces"))
    text = proc.stdout
    assert "late_flag.c:" in text and "finding(s)" in text, text[-3000:]
    listed = {(line.split()[0], line.split()[2]) for line in text.splitlines()
              if line.startswith("  ") and " on " in line and "(agents" in line}
    v = validate(fix, tmp_path / "v", time_budget=4.0, connections=200, interleavings=60,
                 sweep=40)
    found = {(r.kind, r.scenario) for r in v.reasons if r.phase == "compare"}
    assert listed == found and {k for k, _ in found} >= {"leak", "use_after_free"}, (
        listed, found)
