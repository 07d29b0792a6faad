"""compare --cluster, `pytest compare/ --cluster` and validate --cluster on a real Dask
cluster (tests/cluster/conftest.py): the same cells and verdicts as here, and the files a
phase wrote on a worker land in the client's --out, naming the client's proposal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from compare.validate import builtin_paths, validate

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}


def flowrace(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compare.cli", *args], capture_output=True,
                          text=True, timeout=900, cwd=cwd, env=ENV)


def test_compare_on_the_cluster_gives_the_local_cells(cluster, tmp_path):
    fix = tmp_path / "my_fix.c"  # a proposal: it travels as source, not as a path
    fix.write_text((ROOT / "tests" / "explore" / "proposals" / "retry_under_lock.c").read_text())
    args = ["compare", "--scenario", "lingering-rst", "--scenario", "late-packets",
            "--driver", "original", "--driver", "assoc-count", "--fix", str(fix),
            "--sweep", "20", "--traces", str(tmp_path / "traces"), "--json"]
    here = flowrace(*args, cwd=tmp_path)
    there = flowrace(*args, "--cluster", cluster, cwd=tmp_path)
    # original is wrong on these scenarios: compare exits 1 (--fail-on), here and there
    assert here.returncode == there.returncode == 1, there.stderr[-2000:]
    a, b = json.loads(here.stdout), json.loads(there.stdout)
    assert json.dumps(a["cells"], indent=2) == json.dumps(b["cells"], indent=2)
    assert a["executions"] == b["executions"] and a["interleavings"] == b["interleavings"]
    assert "cluster" not in a
    assert b["cluster"] == {"address": cluster, "workers": 2, "parts": 6}
    bad = [c for c in b["cells"] if c["first_bad_interleaving"]]
    assert bad and all(Path(c["first_bad_interleaving"]["trace"]).is_file() for c in bad)


def test_the_pytest_plugin_computes_the_selected_cells_on_the_cluster(cluster, tmp_path):
    out = tmp_path / "m.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "compare/test_matrix.py",
         "-k", "test_cell and clean-close", "-q", "--sweep", "2", "--cluster", cluster,
         "--matrix-json", str(out), "--matrix-traces", str(tmp_path / "traces")],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"computed on the cluster {cluster}" in proc.stdout
    doc = json.loads(out.read_text())
    local = flowrace("compare", "--scenario", "clean-close", "--sweep", "2", "--traces",
                     str(tmp_path / "traces"), "--fail-on", "none", "--json", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    mine = {(c["driver"], c["agent"]): c for c in doc["cells"]}
    theirs = {(c["driver"], c["agent"]): c for c in json.loads(local.stdout)["cells"]}
    assert mine and mine.keys() <= theirs.keys()
    assert all(mine[k] == theirs[k] for k in mine)
    assert doc["cluster"]["parts"] == len({d for d, _ in mine})  # only the selected pairs


QUICK = {"time_budget": 6.0, "connections": 2000, "interleavings": 60, "sweep": 40}


def test_validate_on_the_cluster(cluster, tmp_path):
    """A naive fix, as a user's file: the verdict and its reasons as here; the evidence
    the workers wrote is in the client's --out and replays from there."""
    proposal = tmp_path / "no_once.c"
    proposal.write_text(builtin_paths()["assoc-count-no-once"].read_text())
    v = validate(proposal, tmp_path / "out", cluster=cluster, **QUICK)
    assert v.verdict == "FAIL"
    assert ("dfs", "double_move") in {(r.phase, r.kind) for r in v.reasons}
    assert v.cluster["address"] == cluster and v.cluster["workers"] == 2
    assert v.cluster["parts"] >= 13  # 9 explorations, the matrix, the rates, 2 stress runs
    doc = json.loads((tmp_path / "out" / "validation.json").read_text())
    assert doc["cluster"]["workers"] == 2 and doc["verdict"] == "FAIL"
    traced = [r for r in v.reasons if r.trace]
    assert traced and all(Path(r.trace).is_file() for r in traced)
    trace = json.loads(Path(traced[0].trace).read_text())
    assert trace["driver"] == str(proposal.resolve())  # not the worker's copy
    proc = flowrace("replay", traced[0].trace, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert Path(v.report["html"]).is_file()
    # the comparison does not depend on time budgets: the same reasons as here
    local = validate(proposal, tmp_path / "here", **QUICK)
    assert local.verdict == "FAIL"
    assert [(r.kind, r.scenario, r.detail) for r in local.reasons if r.phase == "compare"] == [
        (r.kind, r.scenario, r.detail) for r in v.reasons if r.phase == "compare"]
