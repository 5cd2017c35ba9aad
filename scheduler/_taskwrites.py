"""What a task writes about itself: its blobs and logs, then its record last (marked finished
or failed), and the error dict a failure is described by; plus what it sends the driver (the
tail of its output, its lines as they come).

A mixin of ``TaskRun`` (``_task``). Order of writes: blobs and logs at once (an object store
takes them concurrently), every one ended before the record, so a task killed at any moment is
either complete or not done.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from rayflow.datastore import (
    BlobCorruptError,
    BlobMissingError,
    TaskRecord,
    UserFacingError,
    cards,
    records,
    run_all,
    taskrecords,
)

from ._capture import Capture
from ._tracebacks import located, qualified_name, user_traceback
from ._worker import _node_id

_OUTPUT_TAIL = 64 * 1024


class TaskWrites:
    """``TaskRun``'s records and reports: see the module docstring."""

    def _write_records(
        self, capture: Capture, extra: dict, error: dict | None, status: str
    ) -> TaskRecord:
        ctx = self.ctx
        stderr = capture.stderr
        if error is not None and status == "failed" and error.get("traceback"):
            # As in Metaflow, a failed task's stderr ends with its traceback (@catch prints its own).
            stderr += (
                ("" if not stderr or stderr.endswith("\n") else "\n") + error["traceback"] + "\n"
            )
        jobs: list[Callable[[], Any]] = []
        if status == taskrecords.DONE:  # a failed record points at no blob
            jobs.append(partial(self.blobs.put_many, list(self._pending.values())))
            jobs += [
                partial(
                    cards.write_card,
                    self.storage,
                    ctx["flow"],
                    ctx["run_id"],
                    self.step,
                    self.task_id,
                    name,
                    html,
                )
                for name, html in self._cards
            ]
        for stream, text in (("stdout", capture.stdout), ("stderr", stderr)):
            if text:
                jobs.append(
                    partial(
                        records.write_log,
                        self.storage,
                        ctx["flow"],
                        ctx["run_id"],
                        self.step,
                        self.task_id,
                        stream,
                        self.attempt,
                        text,
                    )
                )
        run_all(self.storage, jobs)  # at once on an object store; every one ended before the record
        record = TaskRecord(
            flow=ctx["flow"],
            run_id=ctx["run_id"],
            step=self.step,
            task_id=self.task_id,
            attempt=self.attempt,
            status=status,
            finished=status == taskrecords.DONE,
            frames=[list(f) for f in self.frames],
            inputs=[list(i) for i in self.inputs],
            ready_at=self.ready_at,
            started_at=self.started,
            finished_at=time.time(),
            node_id=_node_id(),
            host=socket.gethostname(),
            pid=os.getpid(),
            exception=error,
            **extra,
        )
        taskrecords.write(self.storage, record)  # last: a finished record makes the task done
        return record

    def _describe(self, exc: BaseException) -> dict:
        user_error = isinstance(exc, UserFacingError)
        text = user_traceback(exc) if not user_error else located(exc)
        message = str(exc)
        if isinstance(exc, (BlobCorruptError, BlobMissingError)) and exc.key:
            from ._lostblob import hint

            more = hint(
                self.storage,
                self.ctx["flow"],
                self.ctx["run_id"],
                exc.key,
                [list(f) for f in self.frames],
                self.inputs,
            )
            message, text = message + more, text + more
        return {
            "type": type(exc).__name__,
            "qualified_type": qualified_name(exc),
            "message": message,
            "traceback": text,
            "internal": user_error,
        }

    def _live_sink(self) -> Any:
        if self.sink is None:
            return None
        from ._logsink import LineForwarder

        return LineForwarder(self.sink, self.ctx["run_id"], f"{self.step}/{self.task_id}")

    @staticmethod
    def _tail(capture: Capture) -> dict:
        return {"stdout": capture.stdout[-_OUTPUT_TAIL:], "stderr": capture.stderr[-_OUTPUT_TAIL:]}
