"""flowrace explore as a user drives it: exit codes, JSON, one-line errors."""

import json
import subprocess
import sys

import pytest


def flowrace(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "compare.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_no_violation_is_exit_0(tmp_path):
    proc = flowrace("explore", "--driver", "assoc-count", "--scenario", "lingering-rst",
                    "--json", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["complete"] is True and doc["violations"] == [] and doc["counterexample"] is None
    assert doc["executions"] > 0 and doc["seconds"] > 0 and doc["interleavings"] > 0
    assert not (tmp_path / "out").exists()


def test_violation_is_exit_1_with_a_replayable_counterexample(tmp_path):
    proc = flowrace("explore", "--driver", "original", "--scenario", "lingering-rst",
                    "--json", "--out", str(tmp_path / "out"), "--no-pictures")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert [v["kind"] for v in doc["violations"]] == ["leak"]
    assert doc["complete"] is True
    again = flowrace("replay", doc["counterexample"], "--json")
    assert again.returncode == 1
    assert [v["kind"] for v in json.loads(again.stdout)["violations"]] == ["leak"]


def test_human_output_shows_the_timeline(tmp_path):
    proc = flowrace("explore", "--driver", "original", "--scenario", "lingering-rst",
                    "--out", str(tmp_path), "--no-pictures")
    assert proc.returncode == 1
    assert "complete" in proc.stdout and "cpu1.delete3" in proc.stdout
    assert "flowrace replay" in proc.stdout


def test_pct_and_jobs(tmp_path):
    proc = flowrace("explore", "--driver", "original", "--scenario", "rst-storm", "--strategy",
                    "pct", "--depth", "3", "--max-executions", "4000", "--jobs", "2",
                    "--json", "--out", str(tmp_path), "--no-pictures", "--no-minimise")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["complete"] is False and doc["executions"] >= 4000 and doc["jobs"] == 2
    assert doc["depth"] == 3 and 0 < doc["pct_guarantee"] < 1


def test_state_graph_option(tmp_path):
    proc = flowrace("explore", "--driver", "assoc-count", "--scenario", "lingering-rst",
                    "--state-graph", "--json", "--out", str(tmp_path))
    assert proc.returncode == 0
    graph = json.loads(proc.stdout)["state_graph"]
    assert graph["states"] > 10 and graph["terminal_states_with_violations"] == 0
    assert (tmp_path / "states.graphml").exists() and (tmp_path / "states.dot").exists()


@pytest.mark.parametrize("args,needle", [
    (("--driver", "nope", "--scenario", "lingering-rst"), "unknown driver"),
    (("--driver", "original", "--scenario", "nope"), "unknown scenario"),
    (("--driver", "original", "--scenario", "lingering-rst", "--jobs", "0"), "jobs"),
    (("--driver", "original", "--scenario", "lingering-rst", "--max-executions", "abc"),
     "max-executions"),
    (("--driver", "original", "--scenario", "lingering-rst", "--max-executions", "0"),
     "max-executions"),
    (("--driver", "original", "--scenario", "lingering-rst", "--time-budget", "-1"),
     "time-budget"),
    (("--driver", "original", "--scenario", "lingering-rst", "--strategy", "bogus"),
     "strategy"),
    (("--driver", "original", "--scenario", "lingering-rst", "--depth", "0"), "depth"),
    (("--driver", "original", "--scenario", "lingering-rst", "--preemption-bound", "-1"),
     "preemption-bound"),
    (("--driver", "original", "--scenario", "lingering-rst", "--strategy", "pct",
      "--preemption-bound", "1"), "preemption-bound"),
    (("--scenario", "lingering-rst"), "driver"),
    (("--driver", "/no/such/file.c", "--scenario", "lingering-rst"), "no such"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    proc = flowrace("explore", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_malformed_counterexample_trace_is_exit_2(tmp_path):
    bad = tmp_path / "leak.trace.json"
    bad.write_text('{"format": "flowrace-trace", "driver": "original", "scenario": '
                   '"lingering-rst", "schedule": "cpu9*3"}')
    proc = flowrace("replay", str(bad))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_an_unfinished_dfs_is_inconclusive_exit_3(tmp_path):
    """A dfs that stops before it completes proves nothing: INCONCLUSIVE, exit 3 (0 is a
    complete search that found nothing)."""
    proc = flowrace("explore", "--driver", "last-ref", "--scenario", "late-packets",
                    "--max-executions", "200", "--out", str(tmp_path))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "INCONCLUSIVE" in proc.stdout and "not complete" in proc.stdout
