"""A proposal's trace is self-contained: it embeds the proposal's source and digest, so
`flowrace replay` reruns exactly what was recorded after the file moved or was deleted,
and says so loudly when the file on disk was edited (`--use-file` runs the edited one)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kernel_model._build import csrc_dir


def flowrace(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compare.cli", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


def proposal(directory: Path) -> Path:
    """A proposal with a bug (the shipped design: it leaks)."""
    path = directory / "my_fix.c"
    path.write_text((csrc_dir() / "variants" / "original.c").read_text())
    return path


def test_a_trace_replays_byte_identically_after_the_proposal_is_deleted(tmp_path):
    fix = proposal(tmp_path)
    trace = tmp_path / "t.json"
    saved = flowrace("run", "--driver", str(fix), "--scenario", "lingering-rst", "--schedule",
                     "leak", "--json", "--save-trace", str(trace))
    assert saved.returncode == 1, saved.stderr  # the leak
    doc = json.loads(trace.read_text())
    assert doc["driver_source"] == fix.read_text() and len(doc["driver_sha256"]) == 64
    before = flowrace("replay", str(trace), "--json")
    human_before = flowrace("replay", str(trace))
    fix.unlink()
    after = flowrace("replay", str(trace), "--json")
    human_after = flowrace("replay", str(trace))
    assert after.returncode == before.returncode == 1, after.stderr
    assert after.stdout == before.stdout  # byte-identical
    assert human_after.stdout == human_before.stdout
    assert after.stderr == "" and "leak" in {v["kind"] for v in
                                              json.loads(after.stdout)["violations"]}
    # and from another directory, with the trace moved too
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "t.json").write_text(trace.read_text())
    again = flowrace("replay", "t.json", "--json", cwd=moved)
    assert again.stdout == before.stdout


def test_an_edited_proposal_is_said_loudly_and_run_only_when_asked(tmp_path):
    fix = proposal(tmp_path)
    trace = tmp_path / "t.json"
    flowrace("run", "--driver", str(fix), "--scenario", "lingering-rst", "--schedule",
             "leak", "--save-trace", str(trace))
    before = flowrace("replay", str(trace), "--json")
    # the engineer fixes the move: the flow no longer leaks
    text = fix.read_text()
    edited = text.replace("/*", "/* edited since the trace was saved */\n/*", 1)
    assert edited != text
    fix.write_text(edited)
    recorded = flowrace("replay", str(trace), "--json")
    assert "WARNING" in recorded.stderr and "differs from the source embedded" in recorded.stderr
    assert "--use-file" in recorded.stderr
    assert recorded.stdout == before.stdout  # still what was recorded
    mine = flowrace("replay", str(trace), "--json", "--use-file")
    assert mine.returncode == 1 and "replaying the edited file" in mine.stderr
