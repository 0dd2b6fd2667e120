"""Independent computations in worker processes, their results in the order of submission.

identify_pies analyses each population pair on its own random streams (pie.identify.pair_rng),
so which process computes a pair, and when, changes none of its numbers; the tables are assembled
in the submission order, and are the same for any number of workers.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections import deque
from dataclasses import dataclass
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

from pie.memo import dumps

Tag = TypeVar("Tag")


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity set, e.g. a SLURM allocation)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class Ready:
    """A job's result known already (e.g. from a cache): yielded in its place, not computed."""

    value: object


def in_order(items: Iterable[tuple[Tag, tuple | Ready]], compute: Callable, workers: int = 1,
             shared: object = None, ahead: int | None = None, idle: Callable[[], object] | None = None,
             ) -> Iterator[tuple[Tag, object]]:
    """(tag, compute(*job)) for each (tag, job) of `items`, in their order; a job that is Ready
    yields its value in its place. With workers > 1 the jobs run in that many forked processes,
    at most `ahead` (default 2 x workers) submitted and not yet yielded, so the caller's memory
    holds a bounded number of jobs and results; `items` is consumed lazily. Ready values do not
    count: while a worker computes, the caller goes on taking items (e.g. loading cached results)
    up to the next job that would exceed the bound. `shared` is what every job may read through
    `shared()` (e.g. a reader of the arrays it needs, so that jobs stay small): a forked worker
    inherits it as it is when the worker starts, without copying it through a pipe. `idle` runs
    once, in the caller's process, the first time the caller would wait for a worker: work it
    needs later, done while it would otherwise wait (never where no job had to be computed)."""
    global _shared
    if workers <= 1:
        before, _shared = _shared, shared
        try:
            for tag, job in items:
                yield tag, job.value if isinstance(job, Ready) else compute(*job)
        finally:
            _shared = before
        return
    ahead = 2 * workers if ahead is None else ahead
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method), initializer=_start_worker,
                             initargs=(shared,)) as pool:
        pending: deque[tuple[Tag, Future | Ready]] = deque()
        submitted = 0  # Futures in `pending`

        def first() -> tuple[Tag, object]:
            nonlocal idle, submitted
            tag, job = pending.popleft()
            if isinstance(job, Future):
                submitted -= 1
                if idle is not None and not job.done():
                    idle()
                    idle = None
            return _result(tag, job)

        for tag, job in items:
            if isinstance(job, Ready):
                pending.append((tag, job))
            else:
                pending.append((tag, pool.submit(_pickled, compute, *job)))
                submitted += 1
            while pending and (submitted > ahead or isinstance(pending[0][1], Ready) or pending[0][1].done()):
                yield first()
        while pending:
            yield first()


_shared: object = None


def shared() -> object:
    """The `shared` object of the in_order call whose job is running."""
    return _shared


def _start_worker(value: object) -> None:
    """A worker's start: its shared object, and BLAS (NumPy's matrix products) on one thread. The
    workers are the parallelism; BLAS threads on top of them oversubscribe the CPUs and spin while
    they wait (identify() from Python, one model's 41 pairs with 2 workers on 2 CPUs: 60 s of CPU
    and 31 s wall with OpenBLAS's default threads, 43 s and 23 s with one; identify_pies.py sets
    OPENBLAS_NUM_THREADS=1 before NumPy loads). The analyses' matrix products are sums of small
    integers, exact in any order, so their numbers do not depend on the thread count."""
    global _shared
    from threadpoolctl import threadpool_limits

    _shared = value
    threadpool_limits(1, user_api="blas")


def _pickled(compute: Callable, *job) -> bytes:
    """compute(*job), pickled in the worker by pie.memo.dumps (compact for PIE tables)."""
    return dumps(compute(*job))


def _result(tag: Tag, job: Future | Ready) -> tuple[Tag, object]:
    return tag, job.value if isinstance(job, Ready) else pickle.loads(job.result())
