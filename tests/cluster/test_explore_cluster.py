"""explore --cluster: the parts --jobs runs, on a real Dask cluster (tests/cluster/conftest.py),
merge into the same result; a killed worker loses nothing; a crashing proposal is a finding."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_model.explore import explore
from kernel_model.explore._cluster import connect

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("driver", ["original", "assoc-count"])
def test_dfs_on_the_cluster_is_the_single_process_search(cluster, driver):
    alone = explore(driver, "split-deletes", "dfs", minimise=False)
    pool = explore(driver, "split-deletes", "dfs", minimise=False, jobs=2)
    res = explore(driver, "split-deletes", "dfs", minimise=False, cluster=cluster)
    assert res.complete and alone.complete
    assert res.by_kind == alone.by_kind and res.violating == alone.violating
    assert sorted(res.kinds) == (["leak"] if driver == "original" else [])
    # every maximal execution once: the same as one process
    assert res.details["explored"] == alone.details["explored"]
    # sharded the same way as --jobs 2 (the cluster has two worker threads): the same count,
    # sleep-set-blocked executions included
    assert res.executions == pool.executions
    c = res.parameters["cluster"]
    assert c["address"] == cluster and c["workers"] == 2 and c["parts"] > 2


def test_pct_on_the_cluster_finds_what_jobs_2_finds(cluster):
    kw = dict(strategy="pct", depth=2, seed=7, max_executions=40_000, minimise=False)
    pool = explore("original", "rst-storm", jobs=2, **kw)
    res = explore("original", "rst-storm", cluster=cluster, **kw)
    assert res.executions == pool.executions == 40_000
    assert res.by_kind == pool.by_kind and res.violating == pool.violating
    assert set(res.by_kind) == {"leak"}
    assert res.parameters["steps"] == pool.parameters["steps"]


def test_a_worker_killed_mid_run_loses_nothing(cluster):
    kw = dict(strategy="random", seed=3, max_executions=100_000, minimise=False)
    alone = explore("original", "split-deletes", **kw)
    client = connect(cluster)
    client.wait_for_workers(2, timeout=120)
    pids = client.run(os.getpid)
    killed: list[tuple[int, dict]] = []

    def kill_one(progress) -> None:
        c = progress.details["cluster"]
        if not killed and c["in_flight"]:
            pid = next(iter(pids.values()))
            os.kill(pid, signal.SIGKILL)
            killed.append((pid, dict(c)))

    res = explore("original", "split-deletes", cluster=cluster, progress=kill_one, **kw)
    assert killed, "the run ended before a worker could be killed"
    assert killed[0][1]["done"] < res.parameters["cluster"]["parts"]
    assert res.executions == alone.executions == 100_000
    assert res.by_kind == alone.by_kind and res.violating == alone.violating
    assert "crashed_parts" not in res.details
    client.wait_for_workers(2, timeout=120)  # the nanny restarted it
    assert killed[0][0] not in client.run(os.getpid).values()


def null_deref(directory: Path) -> Path:
    """The template whose late-packet lookup dereferences the flow it did not find."""
    from kernel_model._build import csrc_dir

    text = (csrc_dir() / "template" / "proposal.c").read_text()
    lookup = """    flow = FlowTableLookupLocked(FlowHandle);
    if (flow != NULL)
        InterlockedIncrement(&flow->RefCount);"""
    assert lookup in text
    path = directory / "null_deref.c"
    path.write_text(text.replace(lookup, """    flow = FlowTableLookupLocked(FlowHandle);
    flow->Rtt = 0; /* BUG: NULL when the flow has moved */
    InterlockedIncrement(&flow->RefCount);"""))
    return path


def test_a_crashing_proposal_is_a_finding_and_the_cluster_lives_on(cluster, tmp_path):
    """The proposal's code runs in a child of the worker: it kills the child twice (a
    finding with its part), never the worker. The CLI says so and exits 1."""
    proc = subprocess.run(
        [sys.executable, "-m", "compare.cli", "explore", "--driver",
         str(null_deref(tmp_path)), "--scenario", "late-packets", "--strategy", "random",
         "--max-executions", "3000", "--json", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "FLOWRACE_CLUSTER": cluster})
    assert proc.returncode == 1, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    crashes = doc["crashed_parts"]
    assert crashes and crashes[0]["crash"] == "crashed with SIGSEGV"
    assert crashes[0]["part"].startswith("random seeds 0..")
    assert doc["cluster"]["address"] == cluster and doc["cluster"]["workers"] == 2
    # the workers are the same processes: none died
    client = connect(cluster)
    assert len(client.run(os.getpid)) == 2


@pytest.mark.parametrize("address,message", [
    ("nonsense", "is not a Dask scheduler address"),
    ("tcp://127.0.0.1:1", "cannot reach the Dask scheduler at tcp://127.0.0.1:1"),
])
def test_a_bad_address_is_one_line_and_exit_2(address, message):
    proc = subprocess.run(
        [sys.executable, "-m", "compare.cli", "explore", "--driver", "original", "--scenario",
         "lingering-rst", "--cluster", address], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr


def test_without_a_cluster_dask_is_not_imported():
    code = ("import compare.cli, compare.cli.compare, compare.cli.explore, compare.validate, "
            "kernel_model.explore, sys\n"
            "from kernel_model.explore import explore\n"
            "explore('original', 'lingering-rst', 'dfs', minimise=False)\n"
            "assert 'distributed' not in sys.modules and 'dask' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_a_scenario_travels_as_its_definition(cluster, tmp_path):
    """A scenario the workers never heard of (not registered there) and a proposal only the
    client has: both travel as data, and the search is the local one."""
    from kernel_model.scenario import Actor, Classify, Delete, Flow, LatePacket, Poll, Scenario

    scenario = Scenario(
        name="only-here", description="two late packets against the deletes",
        flows=[Flow(cookie=0xC0FFEE)],
        actors=[Actor("cpu0", 0, [Classify(0, "rst-recv", inbound=True), LatePacket(0),
                                  LatePacket(0)]),
                Actor("cpu1", 1, [Delete(0, a) for a in range(4)]),
                Actor("agent", 2, [Poll("c1")])])
    fix = tmp_path / "only_here.c"
    fix.write_text((ROOT / "c_src" / "variants" / "last_ref_late_flag.c").read_text())
    alone = explore(str(fix), scenario, "dfs", minimise=False)
    res = explore(str(fix), scenario, "dfs", minimise=False, cluster=cluster)
    assert res.complete == alone.complete
    assert res.by_kind == alone.by_kind
    assert res.details["explored"] == alone.details["explored"]
    assert res.scenario == "only-here" and res.kinds
    assert res.parameters["cluster"]["parts"] > 0, "the search ended before it was split"
