"""--jobs: run a strategy's parts in worker processes (fork: the workers inherit the
compiled variants and registered scenarios). dfs hands out schedule-prefix shards;
random and pct hand out seed ranges."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from collections.abc import Callable

from ._engine import Target
from ._protocol import Part, Progress
from ._strategies import make_strategy

_TARGET: Target | None = None


def _make(part: Part):
    return make_strategy(part.strategy, **part.kwargs)


def _init_worker() -> None:
    from .. import _children

    _children.die_with_parent()


def _work(args) -> Progress:
    part, deadline = args
    assert _TARGET is not None
    strategy = _make(part)
    strategy.start(_TARGET)
    progress = Progress()
    while not progress.complete:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            break
        progress = strategy.step(part.max_executions, min(left or 0.5, 0.5))
        if part.max_executions and progress.executions >= part.max_executions:
            break
        if progress.details.get("stopped"):
            break
    return progress


def merge(done: Progress, piece: Progress) -> None:
    """Add a part's progress to the whole (the same for the local pool and a cluster)."""
    done.merge(piece)
    for key in ("explored", "sleep_blocked", "bound_pruned", "states", "revisits",
                "visited_bytes", "step_bound_hit"):
        if key in piece.details:
            done.details[key] = done.details.get(key, 0) + piece.details[key]
    if "interleavings" in piece.details:
        a, b = done.details.get("interleavings", 0), piece.details["interleavings"]
        done.details["interleavings"] = None if a is None or b is None else a + b
    if "reduced" in piece.details:  # stateful: reduced only if every part stayed reduced
        done.details["reduced"] = done.details.get("reduced", True) and piece.details["reduced"]


def run_parts(target: Target, parts_iter, jobs: int, deadline: float | None,
              max_executions: int, done: Progress,
              on_progress: Callable[[Progress], None] | None) -> tuple[Progress, bool]:
    """Run parts (an iterator, consumed only as workers free up) on `jobs` processes,
    merging into `done`. Returns (progress, every part finished)."""
    global _TARGET
    _TARGET = target
    ctx = mp.get_context("fork")
    all_finished = True
    finished: queue.SimpleQueue = queue.SimpleQueue()  # fed by the pool's result thread
    from .. import _children

    with ctx.Pool(jobs, initializer=_init_worker) as pool:
        workers = [p.pid for p in pool._pool]  # for an interrupt: killed with us
        for pid in workers:
            _children.register_pid(pid)
        in_flight = 0
        exhausted = False

        def submit() -> bool:
            nonlocal exhausted, in_flight
            try:
                part = next(parts_iter)
            except StopIteration:
                exhausted = True
                return False
            pool.apply_async(_work, ((part, deadline),), callback=finished.put,
                             error_callback=finished.put)
            in_flight += 1
            return True

        # a few parts queued per worker, so that none waits for this loop between two
        for _ in range(3 * jobs):
            if not submit():
                break
        while in_flight:
            piece = finished.get()
            in_flight -= 1
            if isinstance(piece, BaseException):
                raise piece
            all_finished &= piece.complete
            merge(done, piece)
            if on_progress:
                on_progress(done)
            over = (max_executions and done.executions >= max_executions) or (
                deadline is not None and time.monotonic() >= deadline)
            if over:
                all_finished = False
            elif not exhausted:
                submit()
        if not exhausted:
            all_finished = False
    for pid in workers:
        _children.unregister_pid(pid)
    _TARGET = None
    return done, all_finished
