"""Several storage calls at once where that pays: an object store answers each request after
tens of milliseconds but serves many in parallel; a local disk gains nothing from threads.

Used where a caller has a batch of independent writes or reads (a task's blobs and logs before
its record). Every call has finished, or one has raised, when ``run_all`` returns, so a caller
can write what points at them afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._local import LocalStorage
from ._storage import Storage

MAX_THREADS = 16


def concurrent(storage: Storage) -> bool:
    """Whether calls to ``storage`` gain from running at once (not on a local disk)."""
    return not isinstance(storage, LocalStorage)


def run_all(storage: Storage, jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run every job and return their results in order; the first error is raised once all
    jobs have ended (none is left running behind the caller's back)."""
    if len(jobs) <= 1 or not concurrent(storage):
        return [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(jobs))) as pool:
        futures = [pool.submit(job) for job in jobs]
    return [f.result() for f in futures]
