"""The command line as a user drives it: exit codes, one-line errors, identical replays."""

import json
import subprocess
import sys
from pathlib import Path

import pytest


def flowrace(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "compare.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_run_exit_codes():
    leak = flowrace("run", "--driver", "original", "--scenario", "lingering-rst",
                    "--schedule", "leak", "--json")
    assert leak.returncode == 1
    doc = json.loads(leak.stdout)
    assert [v["kind"] for v in doc["violations"]] == ["leak"]
    assert {"violations", "polls", "stats"} <= set(doc)
    assert doc["violations"][0]["step"] >= 0 and doc["violations"][0]["actor"]
    clean = flowrace("run", "--driver", "original", "--scenario", "lingering-rst",
                     "--schedule", "clean", "--json")
    assert clean.returncode == 0 and json.loads(clean.stdout)["violations"] == []


def test_same_seed_byte_identical_and_replay(tmp_path):
    args = ("run", "--driver", "original", "--scenario", "lingering-rst", "--seed", "5", "--json")
    first = flowrace(*args, "--save-trace", str(tmp_path / "t.json"))
    second = flowrace(*args)
    assert first.stdout == second.stdout
    again = flowrace("replay", str(tmp_path / "t.json"), "--json")
    assert again.stdout == first.stdout and again.returncode == first.returncode


@pytest.mark.parametrize("args,needle", [
    (("run", "--driver", "nope", "--scenario", "lingering-rst", "--seed", "1"), "unknown driver"),
    (("run", "--driver", "original", "--scenario", "nope", "--seed", "1"), "unknown scenario"),
    (("run", "--driver", "original", "--scenario", "lingering-rst", "--schedule", "cpu9*2"),
     "unknown actor"),
    (("run", "--driver", "original", "--scenario", "lingering-rst", "--schedule", "cpu0**"),
     "malformed schedule"),
    (("run", "--driver", "original", "--scenario", "lingering-rst", "--schedule", "agent*7,cpu1*3"),
     "cannot run"),
    (("run", "--driver", "original", "--scenario", "lingering-rst", "--schedule", "cpu0@nolabel"),
     "unknown event label"),
    (("run", "--driver", "original", "--scenario", "lingering-rst"), "exactly one"),
    (("stress", "--driver", "original", "--connections", "0"), "connections"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    proc = flowrace(*args)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("content", ["not json", '{"format": "other"}',
                                     '{"format": "flowrace-trace", "driver": "original"}'])
def test_malformed_trace_is_exit_2(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    proc = flowrace("replay", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "trace" in proc.stderr


def test_proposal_that_does_not_compile(tmp_path):
    bad = tmp_path / "broken.c"
    bad.write_text('#include "flowdata.h"\nVOID FlowVariantSweep(VOID) { this is not C }\n')
    proc = flowrace("run", "--driver", str(bad), "--scenario", "lingering-rst", "--seed", "1")
    assert proc.returncode == 2
    assert "broken.c:2" in proc.stderr and "Traceback" not in proc.stderr


def test_stress_reports_lingering_flows():
    proc = flowrace("stress", "--driver", "original", "--connections", "10000", "--threads", "8",
                    "--seed", "1", "--json")
    doc = json.loads(proc.stdout)
    assert doc["lingering"] > 0 and proc.returncode == 1
    assert doc["connections"] == 10000 and doc["seconds"] > 0
    assert {"stats", "violations", "open_at_end"} <= set(doc)


def test_proposal_missing_a_hook(tmp_path):
    """It compiles, but a hook of the contract is missing: one message naming it."""
    template = (Path(__file__).parents[2] / "c_src" / "template" / "proposal.c").read_text()
    start = template.index("_IRQL_requires_(PASSIVE_LEVEL)\nVOID FlowVariantSweep")
    partial = tmp_path / "partial.c"
    partial.write_text(template[:start])
    proc = flowrace("run", "--driver", str(partial), "--scenario", "lingering-rst", "--seed", "1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "FlowVariantSweep" in proc.stderr
