"""A proposal is untrusted code: `flowrace validate` survives whatever it does, says what it
did, keeps its time budget, and leaves no process behind; SIGINT and SIGTERM end any
flowrace command at once (130, 143), with its children.

Each hostile proposal is the template (the shipped design) plus one thing; see hostile.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from compare.validate import GRACE
from tests.validate.hostile import escaping_fork_proposal, hostile_proposal

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 30
# what each proposal must be failed for: (phase, kind) among the reasons
EXPECTED = {
    "constructor_abort": ("load", "crash"),
    "exit_in_hook": ("smoke", "exit"),
    "forged_stdout": ("dfs", "leak"),  # its made-up results are never read
    "sleep_in_hook": ("smoke", "hang"),
    "endless_loop": (None, None),  # a hang or a livelock, found where it first shows
    "fork_grandchild": ("smoke", "fork"),
}


def tagged_processes(tag: str) -> list[str]:
    """Processes (not zombies) whose environment carries `tag`: a /proc scan."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if tag.encode() not in (entry / "environ").read_bytes():
                continue
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2] not in "ZX":
            found.append(f"{entry.name}: {(entry / 'cmdline').read_bytes()[:120]!r}")
    return found


def no_process_left(tag: str, within: float = 5.0) -> list[str]:
    end = time.monotonic() + within
    while (left := tagged_processes(tag)) and time.monotonic() < end:
        time.sleep(0.2)
    return left


def start(args: list[str], tag: str, cwd: Path) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(ROOT), "FLOWRACE_TEST_TAG": tag}
    return subprocess.Popen([sys.executable, "-m", "compare.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_hostile_proposal_fails_in_time_and_leaves_nothing_behind(name, tmp_path):
    tag = f"flowrace-test-{uuid.uuid4()}"
    path = hostile_proposal(name, tmp_path)
    t0 = time.monotonic()
    proc = start(["validate", str(path), "--time-budget", str(BUDGET), "--connections", "2000",
                  "--json", "--out", str(tmp_path / "out")], tag, tmp_path)
    try:
        out, err = proc.communicate(timeout=BUDGET + 30 + 60)
    finally:
        proc.kill()
    seconds = time.monotonic() - t0
    assert "Traceback" not in err, err
    assert proc.returncode == 1, (proc.returncode, err[-2000:])
    assert seconds <= BUDGET + 30, f"{seconds:.0f} s for --time-budget {BUDGET}"
    assert GRACE <= 30
    doc = json.loads(out)
    assert doc["verdict"] == "FAIL"
    kinds = {(r["phase"], r["kind"]) for r in doc["reasons"]}
    phase, kind = EXPECTED[name]
    if phase is None:
        assert {k for _, k in kinds} & {"hang", "livelock"}, kinds
    else:
        assert (phase, kind) in kinds, kinds
    for r in doc["reasons"]:
        if r["kind"] in ("crash", "exit", "hang", "fork") and r["phase"] != "load":
            assert r["trace"] and Path(r["trace"]).is_file(), r  # the report links it
            assert "reproduces it" in r["detail"], r["detail"]
    assert (tmp_path / "out" / "report.html").is_file()
    assert no_process_left(tag) == []


@pytest.mark.slow
def test_a_grandchild_that_leaves_the_process_group_is_found_and_killed(tmp_path):
    from compare.validate import Validation, _Clock, hunt  # noqa: I001 - internals under test

    tag = f"flowrace-test-{uuid.uuid4()}"
    os.environ["FLOWRACE_TEST_TAG"] = tag
    try:
        from kernel_model.variants import build_variant

        path = escaping_fork_proposal(tmp_path)
        build_variant(path)
        v = Validation(str(path), str(tmp_path))
        found = hunt(v, _Clock(120), str(path), ["lingering-rst"], "smoke", 5, 60.0)
    finally:
        del os.environ["FLOWRACE_TEST_TAG"]
    assert found is not None and found.kind == "fork", found
    assert "still running and were killed" in found.detail
    assert no_process_left(tag) == []


def test_the_forged_results_never_pass(tmp_path):
    """The channel check alone, fast: a child that writes frames with a wrong key."""
    from compare import _worker

    key = os.urandom(32)
    forged = _worker.frame(os.urandom(32), b'{"ok": {"verdict": "PASS"}}')
    good = _worker.frame(key, b'{"ok": {"n": 1}}')
    assert _worker.parse_frame(key, forged) is None
    assert _worker.parse_frame(key, b"junk" + forged + b"FRR1 x 3\n{}" + good) == {"ok": {"n": 1}}
    assert _worker.parse_frame(key, good[:-1]) is None  # truncated


def _wait_for(predicate, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_validate_interrupted_leaves_no_process_behind(tmp_path, sig, code):
    """Interrupted while a phase's child is stuck in the proposal (sleeping in a hook):
    the validator kills the phase's process group and exits 130/143 at once."""
    tag = f"flowrace-test-{uuid.uuid4()}"
    path = hostile_proposal("sleep_in_hook", tmp_path)
    proc = start(["validate", str(path), "--time-budget", "60", "--out",
                  str(tmp_path / "out")], tag, tmp_path)
    try:
        # wait until a phase runs the proposal: a worker child of the validator
        assert _wait_for(lambda: any("compare._worker" in p for p in tagged_processes(tag)),
                         120), "no phase started"
        time.sleep(1.0)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err
    assert no_process_left(tag) == []


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ["explore", "--driver", "original", "--scenario", "rst-storm", "--strategy", "random",
     "--jobs", "2", "--max-executions", "1000000000000"],
    ["stress", "--driver", "SLEEPER", "--connections", "2000"],
    ["run", "--driver", "SLEEPER", "--scenario", "lingering-rst", "--seed", "1"],
], ids=["explore-jobs", "stress", "run"])
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_commands_stuck_in_c_end_on_a_signal(tmp_path, args, sig, code):
    """`explore --jobs 2` (worker processes), `stress` (threads in a child) and `run` (the
    proposal sleeping in a hook, inside C in flowrace's own process) end with 130/143."""
    from kernel_model.variants import build_variant

    tag = f"flowrace-test-{uuid.uuid4()}"
    if "SLEEPER" in args:
        sleeper = hostile_proposal("sleep_in_hook", tmp_path)
        build_variant(sleeper)  # compiled now: the command only loads it
        args = [str(sleeper) if a == "SLEEPER" else a for a in args]
    proc = start([*args, *(["--out", str(tmp_path / "out")] if args[0] == "explore" else [])],
                 tag, tmp_path)
    try:
        # busy: two pool workers, the stress run's child, or (run) the hook's sleep
        workers = min(2, len(os.sched_getaffinity(0)))  # --jobs is capped at the CPUs
        want = {"explore": 1 + workers, "stress": 2, "run": 1}[args[0]]
        assert _wait_for(lambda: len(tagged_processes(tag)) >= want, 180), "no start"
        time.sleep(3.0)
        assert proc.poll() is None
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err
    assert no_process_left(tag) == []
