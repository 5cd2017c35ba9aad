"""How a task gets its inputs' records without one request per input where it can be avoided.

- A finished record never changes, so a worker keeps the last few it read: the thousands of
  splits of a foreach all read their parent's record, and a worker runs many of them.
- A join over many inputs reads the run's done pages (``datastore._pages``: copies of finished
  records, a few files per step) and reads one by one, at once on an object store, only the
  inputs the pages do not hold with the attempt the driver named.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from functools import partial

from rayflow.datastore import Storage, TaskRecord, pages, run_all, taskrecords

_KEPT: OrderedDict[tuple[str, str, str, str, str, int], TaskRecord] = OrderedDict()
_KEEP = 64


def finished(
    storage: Storage, flow: str, run_id: str, step: str, task_id: str, attempt: int
) -> TaskRecord | None:
    """``taskrecords.read_finished`` of a named attempt, remembered once found finished."""
    key = (storage.url, flow, run_id, step, task_id, attempt)
    found = _KEPT.get(key)
    if found is not None:
        _KEPT.move_to_end(key)
        return found
    found = taskrecords.read_finished(storage, flow, run_id, step, task_id, attempt)
    if found is not None:
        _KEPT[key] = found
        while len(_KEPT) > _KEEP:
            _KEPT.popitem(last=False)
    return found


def of_join(
    storage: Storage,
    flow: str,
    run_id: str,
    inputs: list[tuple[str, str]],
    attempts: list[int | None],
    read_one: Callable[[int], TaskRecord],
) -> list[TaskRecord]:
    """The record of every input of a join, in order; ``read_one(i)`` reads input ``i`` alone."""
    out: list[TaskRecord | None] = [None] * len(inputs)
    if len(inputs) >= pages.WORTH_IT:
        held = pages.read_pages(
            storage, flow, run_id, sorted({step for step, _ in inputs}), len(inputs)
        )
        for i, (step, task_id) in enumerate(inputs):
            record = held[step].get(task_id)
            attempt = attempts[i] if i < len(attempts) else None
            if record is not None and attempt is not None and record.attempt == int(attempt):
                out[i] = record
    missing = [i for i, record in enumerate(out) if record is None]
    for i, record in zip(missing, run_all(storage, [partial(read_one, i) for i in missing])):
        out[i] = record
    return out  # type: ignore[return-value]
