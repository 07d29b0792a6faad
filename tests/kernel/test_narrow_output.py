"""Every command's default output fits 80 columns when piped with COLUMNS=80: no cell
cut with "…", no line wider than the screen but a command (or schedule) to copy, which
is printed whole on a line of its own; and counterexamples mark where a finding was
caused beside where its check fired."""

from __future__ import annotations

import os
import subprocess
import sys

from rich.cells import cell_len


def flowrace(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compare.cli", *args], capture_output=True,
                          text=True, timeout=600, env=os.environ | {"COLUMNS": "80"})


def too_wide(text: str, allowed: tuple[str, ...]) -> list[str]:
    return [ln for ln in text.splitlines()
            if cell_len(ln.rstrip()) > 80 and not ln.strip().startswith(allowed)]


def test_run_timeline_at_80_columns_wraps_cells_and_marks_the_cause():
    proc = flowrace("run", "--driver", "original", "--scenario", "lingering-rst",
                    "--schedule", "leak")
    assert proc.returncode == 1
    out = proc.stdout
    assert "…" not in out
    assert too_wide(out, ("cpu0*",)) == []
    lines = out.splitlines()
    schedule = lines[lines.index("  schedule:") + 1].strip()
    assert schedule == "cpu0*9,cpu1*12,cpu0,agent*18,settle*6"  # whole, one line
    # the check fires at the settle poll; the cause is the last delete's compare-exchange
    # that returned 3 (not 2), marked on its own step
    at = next(k for k, ln in enumerate(lines) if ln.strip().startswith("19 "))
    end = next(k for k, ln in enumerate(lines) if ln.strip().startswith("20 "))
    col = lines[at].index("←")
    finding = " ".join(ln[col:].strip() for ln in lines[at:end])
    assert "ICX(" in lines[at] and finding.startswith("← returned 3: the last delete's")
    assert next(ln for ln in lines if ln.strip().startswith("45 ")).rstrip().endswith("leak")


def test_compare_at_80_columns_folds_and_prints_the_conclusion_first():
    proc = flowrace("compare", "--scenario", "lingering-rst", "--sweep", "5")
    assert proc.returncode == 1  # original is wrong by the driver with prefix
    out = proc.stdout
    assert "…" not in out
    assert too_wide(out, ()) == []
    assert out.startswith("Per driver")
    assert out.index("wrong (agent) ") < out.index("lingering-rst: all")  # legend first
    assert "use_after_free" in out and "deadlock" in out  # findings listed, not squeezed
    details = flowrace("compare", "--scenario", "lingering-rst", "--sweep", "5", "--details")
    replays = [ln for ln in details.stdout.splitlines() if "flowrace replay" in ln
               or "flowrace run" in ln]
    assert replays and all(ln.strip().startswith("flowrace ") for ln in replays)
    assert all(ln.strip().endswith(("'", ".json")) for ln in replays)  # whole


def test_a_use_after_free_marks_the_free(tmp_path):
    proc = flowrace("explore", "--driver", "assoc-count-free-on-drain", "--scenario",
                    "lingering-rst", "--out", str(tmp_path), "--no-pictures")
    assert proc.returncode == 1
    assert "freed here (cause of use_after_free" in " ".join(proc.stdout.split())
