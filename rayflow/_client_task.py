"""``Task``: one task of a run, its record, artifacts, metadata and logs (Metaflow's Task)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rayflow.datastore import (
    DamagedRecordError,
    MissingRecordError,
    TaskRecord,
    records,
    taskrecords,
)

from . import _namespace as ns
from ._artifacts import DataArtifact, MetaflowArtifacts, MetaflowData, TaskException, to_datetime
from ._client_common import DamagedRecord, NotFound, _running_task_meta, _split
from ._client_compat import TaskCompat
from ._client_metadata import Metadata, metadata_dict, task_metadata

if TYPE_CHECKING:
    from ._client_step import Step


class Task(TaskCompat):
    """One task. ``Task('Flow/run/step/task_id')`` checks at once that it exists (and that its run
    is in the current namespace); tasks listed by a ``Step`` read their record on first use."""

    def __init__(
        self,
        pathspec: str,
        _meta: TaskRecord | None = None,
        _lazy: bool = False,
        _namespace_check: bool = True,
    ) -> None:
        self.flow_name, self.run_id, self.step_name, self.id = _split(pathspec, 4, "Task")
        self.pathspec = "/".join([self.flow_name, self.run_id, self.step_name, self.id])
        self._meta = _meta
        if not _lazy and _meta is None:
            from ._client_run import Run

            Run(f"{self.flow_name}/{self.run_id}", _namespace_check=_namespace_check)
            self._load()

    def _load(self) -> TaskRecord:
        """The task's record (``datastore.taskrecords``): its finished attempt, else its latest."""
        if self._meta is None:
            try:
                self._meta = taskrecords.read_task(
                    ns.storage(), self.flow_name, self.run_id, self.step_name, self.id
                )
            except DamagedRecordError as exc:
                raise DamagedRecord(f"task {self.pathspec}: {exc}") from None
            except MissingRecordError:
                running = _running_task_meta(self.pathspec)
                if running is not None:
                    return running  # not kept: the record is written when the task ends
                raise NotFound(f"task {self.pathspec} not found in {ns.get_metadata()}") from None
        return self._meta

    @property
    def artifact_keys(self) -> dict[str, str]:
        return dict(self._load().artifacts)

    @property
    def artifact_sizes(self) -> dict[str, int]:
        """Payload size of each artifact as recorded when it was written (format 2 records)."""
        return dict(self._load().sizes)

    def __getitem__(self, name: str) -> DataArtifact:
        key = self.artifact_keys.get(name)
        if key is None:
            raise KeyError(f"task {self.pathspec} has no artifact '{name}'")
        return DataArtifact(self, name, key)

    def __contains__(self, name: str) -> bool:
        return name in self.artifact_keys

    def __iter__(self) -> Iterator[DataArtifact]:
        return (self[n] for n in sorted(self.artifact_keys))

    @property
    def artifacts(self) -> MetaflowArtifacts:
        """``task.artifacts.name`` is the DataArtifact (``.data``, ``.size``), as in Metaflow."""
        return MetaflowArtifacts(self)

    @property
    def data(self) -> MetaflowData:
        return MetaflowData(self)

    @property
    def finished(self) -> bool:
        """Whether the task's record says it finished (read afresh until it does: a finished
        record never changes). A damaged or missing record is not finished."""
        if self._meta is not None and self._meta.finished:
            return True
        self._meta = None
        try:
            return self._load().finished
        except NotFound:
            return False

    successful = finished

    @property
    def record(self) -> dict[str, Any]:
        """The task's record as stored (typed values: ``attempt``, ``host``, times in epoch s)."""
        return self._load().to_json()

    @property
    def metadata(self) -> list[Metadata]:
        """Metaflow's list of ``Metadata`` records: one per attempt (``type == "attempt"``),
        the record's facts, and a resumed run's origin (``_client_metadata``)."""
        return task_metadata(self)

    @property
    def metadata_dict(self) -> dict[str, str]:
        """The metadata as strings, with Metaflow's resume keys: ``origin-run-id`` on every task
        of a resumed run, ``origin-task-id`` on a task cloned from it."""
        return metadata_dict(self)

    @property
    def parent(self) -> Step:
        from ._client_step import Step

        return Step(f"{self.flow_name}/{self.run_id}/{self.step_name}", _lazy=True)

    @property
    def tags(self) -> frozenset[str]:
        from ._client_run import Run

        return Run(f"{self.flow_name}/{self.run_id}", _namespace_check=False).tags

    @property
    def index(self) -> int | None:
        frames = [f for f in self._load().frames if f[0] != "*"]  # "*": a loop iteration
        return frames[-1][1] if frames else None

    @property
    def exception(self) -> TaskException | None:
        """The exception of a task whose last attempt failed, or None: also None when ``@catch``
        handled it, as in Metaflow (the caught exception is the ``@catch`` variable's value)."""
        record = self._load()
        return TaskException(record.exception) if record.exception and not record.finished else None

    @property
    def current_attempt(self) -> int:
        return self._load().attempt

    @property
    def created_at(self) -> datetime | None:
        return to_datetime(self._load().started_at)

    @property
    def finished_at(self) -> datetime | None:
        return to_datetime(self._load().finished_at)

    @property
    def origin_pathspec(self) -> str | None:
        origin = self._load().origin
        return origin.get("pathspec") if origin else None

    def _log(self, stream: str) -> str:
        flow, run_id, step, task_id, attempt = self._load().logs_at
        return records.read_log(ns.storage(), flow, run_id, step, task_id, stream, attempt)

    @property
    def stdout(self) -> str:
        return self._log("stdout")

    @property
    def stderr(self) -> str:
        return self._log("stderr")

    def __repr__(self) -> str:
        return f"Task('{self.pathspec}')"
