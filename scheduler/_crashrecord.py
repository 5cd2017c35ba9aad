"""The record of an attempt whose worker died before it could write one itself.

The driver writes it (the worker cannot), so ``rayflow logs``, the UI and the client show why the
attempt failed. A record the attempt left itself wins: it knows more (an ``os._exit`` or a
``@timeout`` kill writes its own exception first), and a finished record is never overwritten.
"""

from __future__ import annotations

import time

from rayflow.datastore import (
    DamagedRecordError,
    MissingRecordError,
    Storage,
    TaskRecord,
    taskrecords,
)

from ._identity import TaskSpec
from ._result import TaskResult


def record_crash(
    storage: Storage, flow: str, run_id: str, spec: TaskSpec, result: TaskResult
) -> None:
    """Write the failed record of ``spec``'s attempt; when the attempt recorded its own exception,
    take that into ``result`` instead (the driver then shows the attempt's own words)."""
    try:
        try:
            previous = taskrecords.read_attempt(
                storage, flow, run_id, spec.step, spec.task_id, spec.attempt, None
            )
        except (MissingRecordError, DamagedRecordError):  # a damaged record is replaced by this one
            previous = None
        if previous is not None and previous.exception:
            result.error = previous.exception
            return
        if previous is not None and previous.finished:
            return
        taskrecords.write(
            storage,
            TaskRecord(
                flow=flow,
                run_id=run_id,
                step=spec.step,
                task_id=spec.task_id,
                attempt=spec.attempt,
                status=taskrecords.FAILED,
                frames=[list(f) for f in spec.frames],
                inputs=[list(i) for i in spec.inputs],
                ready_at=spec.ready_at,
                finished_at=time.time(),
                exception=result.error,
            ),
        )
    except OSError:
        pass
