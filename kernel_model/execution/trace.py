"""Traces: an execution saved as a small JSON file (its driver, with a proposal's source
embedded, the scenario and the step-level schedule), loaded with every field checked, and
replayed exactly."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import FlowraceError
from ..scenario import Scenario
from ..variants import Variant, load_variant
from .outcome import Outcome
from .runner import run
from .schedule import MAX_SCHEDULE_CHARS

#: a trace file larger than this is not one flowrace wrote
MAX_TRACE_BYTES = 64 << 20
TRACE_FORMAT = "flowrace-trace"


def driver_fields(variant: Variant) -> dict[str, Any]:
    """What a trace keeps of its driver: the name or path, the source's digest, and for a
    proposal the source itself, so that the trace replays when the file has moved, been
    deleted or been edited since (a trace is self-contained)."""
    doc: dict[str, Any] = {"driver": variant.name if variant.builtin else str(variant.source),
                           "driver_sha256": variant.sha256}
    if not variant.builtin:
        doc["driver_source"] = variant.source.read_text(errors="replace")
    return doc


def trace_document(outcome: Outcome, variant: Variant) -> dict[str, Any]:
    return {
        "format": TRACE_FORMAT,
        "version": 1,
        **driver_fields(variant),
        "driver": outcome.driver,
        "scenario": outcome.scenario,
        "strategy": outcome.strategy,
        "seed": outcome.seed,
        "schedule": outcome.schedule,
        "violations": sorted(outcome.kinds),
    }


def save_trace(outcome: Outcome, path: str | Path) -> Path:
    variant = load_variant(outcome.driver)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(trace_document(outcome, variant), indent=2) + "\n")
    return path


def load_trace(path: str | Path) -> dict[str, Any]:
    """Read and check a trace file: its size, JSON nesting and every field's type."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TRACE_BYTES + 1)
    except FileNotFoundError:
        raise FlowraceError(f"no such trace file: {path}") from None
    except OSError as exc:
        raise FlowraceError(f"cannot read trace {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_TRACE_BYTES:
        raise FlowraceError(f"{path} is not a flowrace trace (larger than "
                            f"{MAX_TRACE_BYTES >> 20} MB)")
    # the nesting, outside strings (the json module would recurse until RecursionError)
    brackets = re.sub(rb'"(?:[^"\\]|\\.)*"', b"", data).translate(
        None, delete=bytes(b for b in range(256) if b not in b"[]{}"))
    depth = 0
    for ch in brackets:
        depth += 1 if ch in b"[{" else -1
        if depth > 64:
            raise FlowraceError(f"{path} is not a flowrace trace (nested deeper than 64)")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSON, UTF-8, a 5000-digit integer
        raise FlowraceError(f"{path} is not a flowrace trace (not JSON: "
                            f"{str(exc)[:120]})") from None
    if not isinstance(doc, dict) or doc.get("format") != TRACE_FORMAT:
        raise FlowraceError(f"{path} is not a flowrace trace (no \"format\": \"{TRACE_FORMAT}\")")
    for key, typ in (("driver", str), ("scenario", str), ("schedule", str)):
        if not isinstance(doc.get(key), typ):
            raise FlowraceError(
                f"{path}: malformed trace, field {key!r} missing or not a {typ.__name__}"
            )
    optional = {"strategy": str, "crash": str, "driver_sha256": str, "version": int}
    for key, typ in optional.items():
        if doc.get(key) is not None and (not isinstance(doc[key], typ)
                                         or isinstance(doc[key], bool)):
            raise FlowraceError(f"{path}: malformed trace, field {key!r} is not a "
                                f"{typ.__name__}")
    seed = doc.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or not 0 <= seed < 1 << 64):
        raise FlowraceError(f"{path}: malformed trace, field 'seed' is not an integer "
                            "0..2**64-1")
    viol = doc.get("violations", [])
    if not isinstance(viol, list) or not all(isinstance(k, str) for k in viol):
        raise FlowraceError(f"{path}: malformed trace, field 'violations' is not a list of "
                            "names")
    if len(doc["schedule"]) > MAX_SCHEDULE_CHARS:
        raise FlowraceError(f"{path}: malformed trace, its schedule is too long")
    return doc


def trace_variant(doc: dict[str, Any], *, use_file: bool = False) -> tuple[Variant, str | None]:
    """The driver a trace ran, and a warning for the user (or None).

    A built-in variant by name. A proposal from the source embedded in the trace — the
    file at the recorded path when it still holds that source, else the embedded copy
    (rebuilt from the proposal cache): the trace replays what it recorded even when the
    file moved, was deleted or was edited since. With `use_file`, the file on disk runs,
    edited or not. A file that differs from the embedded source is always said loudly."""
    import hashlib

    from ..variants import cache_dir

    driver = doc["driver"]
    sha = doc.get("driver_sha256")
    embedded = doc.get("driver_source")
    path = Path(driver)
    if not isinstance(embedded, str) or not (driver.endswith(".c") or "/" in driver):
        variant = load_variant(driver)
        if sha and sha != variant.sha256:
            return variant, (f"{driver}'s source changed since this trace was saved, and the "
                             "trace does not embed it: the replay runs the current source")
        return variant, None
    digest = hashlib.sha256(embedded.encode()).hexdigest()
    on_disk = path.read_bytes() if path.is_file() else None
    same = on_disk is not None and hashlib.sha256(on_disk).hexdigest() in (digest, sha)
    if use_file:
        if on_disk is None:
            raise FlowraceError(f"--use-file: no such driver proposal file: {driver}")
        return load_variant(driver), (None if same else
                                      f"{driver} differs from the source embedded in this "
                                      "trace: replaying the edited file (--use-file)")
    if same:
        return load_variant(driver), None
    copy = cache_dir() / "traces" / digest[:16] / path.name
    if not copy.is_file() or copy.read_text(errors="replace") != embedded:
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(embedded)
    variant = load_variant(str(copy))
    if on_disk is None:
        return variant, None  # the file moved or is gone: the embedded source is the trace
    return variant, (f"WARNING: {driver} differs from the source embedded in this trace "
                     f"(sha256 {digest[:12]}...): replaying the embedded source, as "
                     "recorded; --use-file replays the edited file instead")


def replay(doc: dict[str, Any], scenario: Scenario, *, use_file: bool = False) -> Outcome:
    """Re-run a saved trace exactly; the outcome carries the trace's driver, strategy and
    seed (a proposal's from the source the trace embeds: `trace_variant`), and
    ``outcome.warning`` says when the proposal file on disk differs."""
    variant, warning = trace_variant(doc, use_file=use_file)
    outcome = run(variant, scenario, schedule=doc["schedule"], strategy="schedule",
                  max_steps=max(20000, len(doc["schedule"])))
    outcome.driver = doc["driver"]
    outcome.strategy = doc.get("strategy", "schedule")
    outcome.seed = doc.get("seed")
    if warning:
        outcome.__dict__["warning"] = warning
    return outcome
