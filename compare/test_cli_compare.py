"""`flowrace compare`: the matrix in the terminal and as JSON; exit 1 on a cell that is
unsafe or wrong by the driver (--fail-on); one-line errors, exit 2."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from compare.cli import main
from kernel_model import load_trace

SMALL = ["--scenario", "lingering-rst", "--driver", "original", "--sweep", "3"]


def invoke(*args: str):
    return CliRunner().invoke(main, ["compare", *args])


def test_json_has_a_cell_per_driver_agent_scenario():
    result = invoke(*SMALL, "--scenario", "clean-close", "--json")
    assert result.exit_code == 1, result.output  # original x prefix is wrong by the driver
    doc = json.loads(result.stdout)
    cells = doc["cells"]
    assert {(c["scenario"], c["agent"]) for c in cells} == {
        (s, a) for s in ("lingering-rst", "clean-close")
        for a in ("prefix", "workaround", "encoder-gate")}
    for c in cells:
        for key in ("driver", "agent", "scenario", "verdict", "interleavings", "worst_rate",
                    "lingering", "first_bad_interleaving", "findings", "spin_steps",
                    "windows_lingering_flows", "final_rate", "closed_error", "failures_error",
                    "open_at_end"):
            assert key in c, key
    masked = next(c for c in cells if c["scenario"] == "lingering-rst"
                  and c["agent"] == "workaround")
    assert masked["verdict"] == "masked" and masked["interleavings"] == 2475
    bad = masked["first_bad_interleaving"]
    assert bad["kind"] == "interleaving" and bad["events"] and bad["schedule"]
    clean = next(c for c in cells if c["scenario"] == "clean-close")
    assert clean["verdict"] == "correct" and clean["first_bad_interleaving"] is None
    assert doc["seed"] == 1 and doc["interleavings"]["lingering-rst"]["exhaustive"]
    # per driver: the summary line and every finding, as the terminal and validate say
    original = doc["drivers"]["original"]
    assert original["summary"].startswith("original: ")
    assert {(f["kind"], f["scenario"]) for f in original["findings"]} >= {
        ("leak", "lingering-rst"), ("wrong", "lingering-rst")}


def test_the_table(tmp_path):
    result = invoke(*SMALL, "--traces", str(tmp_path), "--details")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "lingering-rst: all 2,475 interleavings + 6 step-level seeds" in out
    assert "original" in out and "masked" in out and "wrong" in out
    assert "flowrace replay" in out
    # the conclusion first: one line per driver, then the legend, then the tables
    assert out.index("original: wrong with prefix") < out.index("masked ") < out.index(
        "lingering-rst: all")
    traces = sorted(tmp_path.glob("*.json"))
    assert traces and load_trace(traces[0])["driver"] == "original"


def test_the_seed_is_printed_and_sampling_follows_it():
    args = ["--scenario", "rst-storm", "--driver", "original", "--sweep", "0",
            "--interleavings", "20", "--json"]
    a = json.loads(invoke(*args, "--seed", "5").stdout)
    b = json.loads(invoke(*args, "--seed", "5").stdout)
    assert a["interleavings"]["rst-storm"] == b["interleavings"]["rst-storm"]
    assert a["interleavings"]["rst-storm"]["run"] == 20
    assert a["interleavings"]["rst-storm"]["seed"] == 5
    assert [c["verdict"] for c in a["cells"]] == [c["verdict"] for c in b["cells"]]
    result = invoke(*args, "--seed", "5")
    assert "seed 5" in result.stderr


def test_a_proposal_and_a_user_agent(tmp_path, monkeypatch):
    fix = tmp_path / "my_fix.c"
    fix.write_text((__import__("pathlib").Path(__file__).parents[1] / "c_src" / "variants"
                    / "original.c").read_text())
    (tmp_path / "my_agent.py").write_text(textwrap.dedent("""
        from agent_model import AgentVariant

        class Silent(AgentVariant):
            def shipped_failures(self, conn):
                return {}
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    result = invoke("--scenario", "lingering-rst", "--driver", "original", "--sweep", "0",
                    "--fix", str(fix), "--agent", "my_agent:Silent", "--json")
    assert result.exit_code == 1, result.output
    cells = json.loads(result.stdout)["cells"]
    assert {c["driver"] for c in cells} == {"original", "my_fix.c"}
    silent = [c for c in cells if c["agent"] == "my_agent:Silent"]
    assert len(silent) == 2 and all(c["verdict"] == "wrong" for c in silent)
    by = {(c["driver"], c["agent"]): c["verdict"] for c in cells}
    assert by[("my_fix.c", "workaround")] == by[("original", "workaround")] == "masked"


@pytest.mark.parametrize("args, message", [
    (["--scenario", "nope"], "unknown scenario 'nope'"),
    (["--driver", "nope"], "unknown driver variant 'nope'"),
    (["--agent", "nope"], "unknown agent variant 'nope'"),
    (["--agent", "no_such_module:X"], "cannot import module 'no_such_module'"),
    (["--fix", "/no/such/fix.c"], "no such driver proposal file"),
    (["--fix", "notc.txt"], "--fix takes a C file"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_proposal_that_does_not_compile(tmp_path):
    bad = tmp_path / "broken.c"
    bad.write_text('#include "flowdata.h"\nVOID FlowVariantInitialize(PFLOW_CONTEXT F, ULONG A)'
                   " { F->RefCount = ; }\n")
    result = invoke("--scenario", "clean-close", "--fix", str(bad))
    assert result.exit_code == 2
    assert "broken.c does not compile" in result.stderr
    assert "Traceback" not in result.stderr


def test_fail_on_decides_the_exit_code():
    """Default: exit 1 when a cell is unsafe or wrong by the driver; `--fail-on unsafe`
    passes drivers that are only ever `wrong (agent)`; `masked` can be asked for."""
    fixes = ["--scenario", "lingering-rst", "--scenario", "late-packets", "--sweep", "5"]
    both = ["--driver", "assoc-count", "--driver", "retry-bounded-sweep"]
    assert invoke(*fixes, *both).exit_code == 0  # prefix is wrong (agent): not the driver
    assert invoke(*fixes, *both, "--fail-on", "unsafe").exit_code == 0
    assert invoke(*fixes, *both, "--fail-on", "wrong").exit_code == 0
    assert invoke(*fixes, "--driver", "original", "--fail-on", "unsafe").exit_code == 0
    assert invoke(*fixes, "--driver", "original", "--fail-on", "masked").exit_code == 1
    assert invoke(*fixes, "--driver", "original", "--fail-on", "none").exit_code == 0
    assert invoke(*fixes, "--driver", "flow-lock-inverted", "--fail-on", "unsafe"
                  ).exit_code == 1
    bad = invoke(*fixes, "--fail-on", "wrongish")
    assert bad.exit_code == 2 and "--fail-on takes" in bad.stderr


def test_the_default_matrix_fails_on_the_shipped_driver():
    """The must-show: `flowrace compare` exits 1 on the default matrix (original is
    wrong/masked); the details of every bad cell only with --details."""
    result = invoke("--sweep", "0", "--interleavings", "20")
    assert result.exit_code == 1, result.output
    text = " ".join(result.stdout.split())  # the summary wraps like prose
    assert "original: wrong with" in text and "first finding: leak" in text
    assert "replay:" not in result.stdout and "--details" in result.stdout
