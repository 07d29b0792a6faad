"""The generic engine (c_src/engine/) builds, links and runs controlled executions
without the driver core (c_src/core/): a toy model (tests/engine/c/toy_model.c) that
is not the driver registers its table of function pointers (fr_model.h), and the
engine explores its races, locks and spins.

The toy model prints one line per run; these tests read them from outside."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kernel_model._build import ENGINE_SOURCES, csrc_dir

CSRC = csrc_dir()
TOY = Path(__file__).parent / "c" / "toy_model.c"
CC = shutil.which("gcc") or shutil.which("cc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler")

# no -I for core/: an engine file that included a core header would not compile, and
# one that called into the core would not link (an executable has no undefined symbols)
INCLUDES = [f"-I{CSRC}", f"-I{CSRC / 'shim'}", f"-I{CSRC / 'engine'}"]
FLAGS = ["-std=c11", "-O1", "-Wall", "-Wextra", "-Werror"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    exe = tmp_path_factory.mktemp("engine-alone") / "toy"
    sources = [str(CSRC / s) for s in ENGINE_SOURCES] + [str(TOY)]
    proc = subprocess.run([CC, *FLAGS, *INCLUDES, *sources, "-lpthread", "-ldl", "-o", str(exe)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return exe


def runs(toy: Path, case: str) -> dict[str, dict[str, str]]:
    """{label: {key: value, ..., "details": [...]}} of the toy's output for a case."""
    proc = subprocess.run([str(toy), case], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, dict] = {}
    for line in proc.stdout.splitlines():
        head, *details = line.split(" | ")
        label, *pairs = head.split()
        fields = dict(p.split("=", 1) for p in pairs if "=" in p)
        if "=" in label:  # a line with no label
            k, v = label.split("=", 1)
            fields[k] = v
            label = case
        fields["details"] = details
        out[label] = fields
    return out


def test_engine_sources_are_every_engine_file():
    """The build lists every engine/*.c (the digest that makes a built-in variant stale
    covers them), and nothing of the core."""
    on_disk = {f"engine/{p.name}" for p in (CSRC / "engine").glob("*.c")}
    assert set(ENGINE_SOURCES) == on_disk


def test_engine_compiles_and_links_without_the_core(toy):
    assert toy.exists()
    for src in (CSRC / "engine").glob("*.[ch]"):
        includes = re.findall(r'#include\s+"([^"]+)"', src.read_text())
        assert not {"flowdata.h", "flowcore.h"} & set(includes), src.name


def test_dfs_finds_a_two_actor_race_with_and_without_reduction(toy):
    r = runs(toy, "race")
    dpor, full = r["race-dpor"], r["race-full"]
    for res in (dpor, full):
        assert res["rc"] == "0" and res["complete"] == "1"
        assert int(res["violating"]) > 0 and res["kinds"] == "0x2"  # the lost update
    # the reduction explores fewer executions, never fewer kinds of finding
    assert int(dpor["maximal"]) < int(full["maximal"])
    # the witness replays as an explicit schedule to the same finding
    witness = r["race-dpor-witness-1"]
    assert witness["rc"] == "0" and witness["kinds"] == "0x2"
    assert witness["details"] == ["lost update: the counter is 1 after 2 increments"]


def test_interlocked_and_locked_increments_lose_nothing(toy):
    assert runs(toy, "atomic")["atomic-dpor"] | {"details": []} == {
        "rc": "0", "complete": "1", "executions": "2", "maximal": "2", "violating": "0",
        "kinds": "0x0", "details": []}
    r = runs(toy, "lock")
    for label in ("lock-dpor", "lock-full"):
        assert r[label]["complete"] == "1" and r[label]["violating"] == "0", r[label]
    assert int(r["lock-dpor"]["maximal"]) <= int(r["lock-full"]["maximal"])


def test_lock_order_inversion_is_a_deadlock_named_by_the_models_globals(toy):
    r = runs(toy, "inversion")
    assert r["inversion-dpor"]["complete"] == "1"
    assert r["inversion-dpor"]["kinds"] == "0x100"  # FR_V_DEADLOCK
    (detail,) = r["inversion-dpor-witness-8"]["details"]
    assert "lock order inversion" in detail and "lockA" in detail and "lockB" in detail


def test_a_spin_on_the_cpu_of_the_actor_it_waits_for_is_a_livelock(toy):
    r = runs(toy, "spin")
    assert r["spin-other-cpu"]["complete"] == "1" and r["spin-other-cpu"]["violating"] == "0"
    assert r["spin-same-cpu"]["complete"] == "1" and r["spin-same-cpu"]["kinds"] == "0x80"
    (detail,) = r["spin-same-cpu-witness-7"]["details"]
    assert "cpu0 spins forever" in detail and "preempted" in detail


def test_callback_strategy_asks_the_registered_pick_hook(toy):
    r = runs(toy, "callback")
    # the hook picks the highest enabled actor: actor 1's operation, then actor 0's,
    # then the settle actor (2)
    assert r["callback"]["first"] == "1110002" and r["callback"]["picks"] == "7"
    assert r["callback-hook"]["rc"] == "0"
    none = r["callback-none"]
    assert none["rc"] == "3"  # FR_ERR_CALLBACK
    assert none["details"] == [
        "error: step 0: the callback strategy has no pick hook (fr_set_pick_hook)"]


def test_the_model_validates_its_operations_and_a_missing_model_is_an_error(toy):
    bad = runs(toy, "bad-op")["bad-op"]
    assert bad["rc"] == "2" and bad["details"] == ["error: operation 1: unknown toy operation 99"]
    none = runs(toy, "no-model")["no-model"]
    assert none["rc"] == "2"
    assert none["details"] == ["error: no model is registered with the engine (fr_model_register)"]


def test_engine_objects_export_only_prefixed_names(tmp_path):
    """Shared engine state and helpers keep short names in the source (g_lock, pick,
    ...) but link as fr_eng_*: the only global symbols an engine object defines are
    fr_*, the instrumentation's __tsan_* and the shim's Windows primitives, so a
    proposal linked into the same module may use any other name."""
    if not shutil.which("nm"):
        pytest.skip("no nm")
    bad = []
    for rel in ENGINE_SOURCES:
        obj = tmp_path / (Path(rel).stem + ".o")
        subprocess.run([CC, *FLAGS, "-fPIC", *INCLUDES, "-c", str(CSRC / rel), "-o", str(obj)],
                       check=True)
        out = subprocess.run(["nm", "-g", "--defined-only", str(obj)], capture_output=True,
                             text=True, check=True).stdout
        for line in out.splitlines():
            name = line.split()[-1]
            if not re.match(r"fr_|__tsan_|(Ex|Ke|Kf|Interlocked|Read|Write|Yield|Initialize"
                            r"|Insert|Remove|IsList)[A-Z]", name):
                bad.append(f"{rel}: {name}")
    assert bad == []


def test_a_proposal_may_define_the_names_the_engine_uses_inside(tmp_path):
    """A proposal is linked into the same module as the engine: globals and functions
    named like the engine's internals (before the split they were static) must not
    clash with them."""
    from compare.scenarios import get_scenario
    from kernel_model import run

    text = (CSRC / "template" / "proposal.c").read_text()
    text += ("\nint g_steps, g_nactors;\nKSPIN_LOCK g_lock;\nLONG g_writes;\n"
             "int pick(int a) { return a + g_steps; }\n"
             "void *block_of(void *p) { return p; }\n"
             "int is_spin_point(int op) { return op; }\n")
    proposal = tmp_path / "engine_names.c"
    proposal.write_text(text)
    lingering = get_scenario("lingering-rst")
    assert run(proposal, lingering, schedule="leak").kinds == {"leak"}


def test_engine_alone_runs_under_address_sanitizer(tmp_path):
    """The engine's own build under ASan+UBSan (the pool poisons redzones with ASan's
    interface, which must link against the sanitizer's runtime, not as the module's
    own hidden symbols): the race is still found, and nothing is reported."""
    exe = tmp_path / "toy-asan"
    sources = [str(CSRC / s) for s in ENGINE_SOURCES] + [str(TOY)]
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    proc = subprocess.run([CC, *FLAGS, *san, *INCLUDES, *sources, "-lpthread", "-ldl", "-o",
                           str(exe)], capture_output=True, text=True)
    if proc.returncode != 0 and "cannot find" in proc.stderr:
        pytest.skip("no sanitizer runtime: " + proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr
    out = runs(exe, "race")
    assert out["race-dpor"]["complete"] == "1" and out["race-dpor"]["kinds"] == "0x2"
