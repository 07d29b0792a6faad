"""compare --cluster and validate --cluster: the matrix's (driver, scenario) pairs and
validate's phases as Dask tasks (the machinery, and what travels, is
`kernel_model.explore._cluster`'s).

A matrix pair carries the driver's C source, the scenario's definition and the
interleavings every driver runs (drawn once, on the client), and comes back as the judged
cells of every agent: the same `Cell`s a local run computes. A validate phase carries the
proposal's source and its arguments; on the worker it runs in a child process
(`compare.child.run_child`, as locally), with its output directory in a temporary
folder whose files come back with the result and are written into the client's --out.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel_model import FlowraceError
from kernel_model.explore._cluster import (
    DriverSource,
    Status,
    connect,
    result_of,
    submit,
    target_for,
)


# ---- the matrix --------------------------------------------------------------------------
@dataclass
class PairResult:
    cells: list[Any]
    executions: int
    seconds: float
    pipelines: int


_agent_caches: dict[str, Any] = {}


def pair_task(payload) -> PairResult:
    """In a worker's child: run one driver on one scenario's interleavings and sweep, and
    judge it for every agent (agent results cached per scenario across tasks)."""
    from .driver_scenario import DriverScenario, _AgentCache

    source, spec, scenario, interleavings, sweep, seed, agents = payload
    target = target_for(source, scenario, 20000)
    cache = _agent_caches.setdefault(repr(scenario), _AgentCache())
    before = cache.pipelines
    ds = DriverScenario(spec, target.variant, target.compiled, interleavings, sweep, seed,
                        cache)
    ds.run()
    cells = [ds.cell(agent) for agent in agents]
    return PairResult(cells, len(ds.executions), ds.seconds, cache.pipelines - before)


def run_matrix(matrix, address: str,
               progress: Callable[[str, str, int], None] | None = None,
               status: Callable[[dict[str, Any]], None] | None = None,
               pairs: Collection[tuple[str, str]] | None = None) -> None:
    """Compute every cell of `matrix` (of the (driver, scenario) `pairs` only, when given)
    on the cluster and keep them in the matrix."""
    from distributed import as_completed

    client = connect(address)
    st = Status(client, address)
    queue = as_completed(loop=client.loop)
    pending: dict[Any, tuple[Any, Any]] = {}
    for s in matrix.scenarios:
        if pairs is not None and not any(sc == s.name for _, sc in pairs):
            continue
        il = matrix.interleavings(s.name)
        for d in matrix.drivers:
            if (d.name, s.name) in matrix._runs or (
                    pairs is not None and (d.name, s.name) not in pairs):
                continue
            payload = (DriverSource.of(matrix.variant(d)), d, s, il, matrix.sweep,
                       matrix.seed, list(matrix.agents))
            what = f"{d.name} × {s.name}"
            fut = submit(client, "compare._cluster:pair_task", payload, timeout=None,
                         what=what)
            pending[fut] = (d, s)
            queue.add(fut)
            st.in_flight += 1
    if status:
        status(st.refresh())
    for fut in queue:
        d, s = pending.pop(fut)
        kind, res = result_of(fut, f"{d.name} × {s.name}")
        st.in_flight -= 1
        st.done += 1
        if kind == "crash":
            raise FlowraceError(f"{d.spec} {res} on scenario {s.name} (twice, on the "
                                "cluster): validate it for the interleaving")
        matrix.install(d, s.name, res.cells, res.executions, res.seconds, res.pipelines)
        if progress:
            progress(d.name, s.name, res.executions)
        if status:
            status(st.refresh())
    matrix.cluster = {"address": address, "workers": st.workers, "parts": st.done}


# ---- validate's phases -------------------------------------------------------------------
@dataclass
class PhaseResult:
    child: Any  # compare.child.ChildResult
    files: dict[str, bytes]


def _swap(value: Any, pairs: list[tuple[str, str]]) -> Any:
    """`value` with every string's prefixes swapped (paths of one side to the other's)."""
    if isinstance(value, str):
        for old, new in pairs:
            if value == old or value.startswith(old.rstrip("/") + "/"):
                return new + value[len(old):]
        return value
    if isinstance(value, list):
        return [_swap(v, pairs) for v in value]
    if isinstance(value, dict):
        return {k: _swap(v, pairs) for k, v in value.items()}
    return value


def phase_task(payload) -> PhaseResult:
    """In the Dask worker process itself (the phase runs in a child of it, as locally):
    materialise the proposal, run the phase, bring back the files it wrote."""
    from .child import run_child

    source, proposal, out, phase, args, timeout = payload
    variant_path = str(source.write())  # compiled by the child, into this worker's cache
    tmp = tempfile.mkdtemp(prefix="flowrace-phase-")
    try:
        there = _swap(args, [(proposal, variant_path), (out, tmp)])
        child = run_child(phase, there, timeout)
        child.value = _swap(child.value, [(variant_path, proposal), (tmp, out)])
        files = {}
        for path in Path(tmp).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if path.suffix != ".png":  # traces name the proposal and their files
                    data = data.replace(tmp.encode(), out.encode()).replace(
                        variant_path.encode(), proposal.encode())
                files[str(path.relative_to(tmp))] = data
        return PhaseResult(child, files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class RemotePhases:
    """validate's `run_child` on the cluster: the same (phase, args, timeout) in, the same
    ChildResult out. Phases asked for ahead (`prefetch`) run meanwhile; `explore-many`
    becomes one task per exploration, so that they spread over the workers."""

    def __init__(self, address: str, proposal: str, out: str | Path):
        self.client = connect(address)
        self.address = address
        self.proposal, self.out = proposal, str(Path(out).resolve())
        from kernel_model import load_variant

        self.source = DriverSource.of(load_variant(proposal))
        self.futures: dict[str, Any] = {}
        self.status = Status(self.client, address)

    def _key(self, phase: str, args: dict[str, Any]) -> str:
        import json

        return phase + json.dumps(args, sort_keys=True)

    def prefetch(self, phase: str, args: dict[str, Any], timeout: float):
        key = self._key(phase, args)
        if key not in self.futures:
            payload = (self.source, self.proposal, self.out, phase, args, timeout)
            # the phase's child does the isolation: the task itself runs in the worker
            self.futures[key] = self.client.submit(phase_task, payload, pure=False)
        return self.futures[key]

    def __call__(self, phase: str, args: dict[str, Any], timeout: float):
        from .child import ChildResult

        if phase == "explore-many":
            futs = [self.prefetch("explore", job, timeout) for job in args["jobs"]]
            results = [self._result(f) for f in futs]
            bad = next((r for r in results if not r.ok), None)
            if bad is not None:
                return bad
            return ChildResult(True, {"results": [r.value for r in results]}, None, "")
        return self._result(self.prefetch(phase, args, timeout))

    def _result(self, future):
        from distributed import KilledWorker

        from .child import ChildResult

        try:
            res: PhaseResult = future.result()
        except KilledWorker:
            return ChildResult(False, None, "killed the Dask worker running it, again and "
                                            "again", "")
        for rel, data in res.files.items():
            path = Path(self.out) / rel
            if not path.exists() or path.read_bytes() != data:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        return res.child

    def describe(self) -> dict[str, Any]:
        """Parts done / in flight and the workers, for the progress line and --json."""
        done = sum(1 for f in self.futures.values() if f.done())
        return {"address": self.address, "workers": self.status.refresh()["workers"],
                "parts": len(self.futures), "done": done,
                "in_flight": len(self.futures) - done}


__all__ = ["RemotePhases", "pair_task", "phase_task", "run_matrix"]
