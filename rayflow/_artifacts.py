"""Artifacts as the client shows them: ``task.data.x`` (values), ``task.artifacts.x`` and
``task['x']`` (DataArtifact objects), and a failed task's exception, with Metaflow's names."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rayflow.datastore import BlobStore

from . import _namespace as ns

if TYPE_CHECKING:
    from ._client import Task


def to_datetime(ts: float | None) -> datetime | None:
    """Records keep epoch seconds; the client returns datetimes, as Metaflow's does."""
    return datetime.fromtimestamp(ts) if ts else None


class _ByName:
    """A task's artifacts by attribute (``x.name``), ``in`` and ``dir()``."""

    def __init__(self, task: Task) -> None:
        self._task = task

    def _get(self, name: str) -> Any:
        raise NotImplementedError

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._get(name)
        except KeyError:
            raise AttributeError(f"task {self._task.pathspec} has no artifact '{name}'") from None

    def __contains__(self, name: str) -> bool:
        return name in self._task.artifact_keys

    def __dir__(self) -> list[str]:
        return sorted(self._task.artifact_keys)


class MetaflowData(_ByName):
    """``run.data.x`` / ``task.data.x``: artifacts by attribute, loaded lazily."""

    def _get(self, name: str) -> Any:
        return self._task[name].data

    def __repr__(self) -> str:
        return f"<data of {self._task.pathspec}: {', '.join(sorted(self._task.artifact_keys))}>"


class DataArtifact:
    """One artifact of a task: ``DataArtifact('Flow/run/step/task_id/name')`` or ``task['name']``.

    The value is loaded (and verified against its content key) only when ``data`` is read.
    """

    def __init__(self, task: Task | str, name: str | None = None, key: str | None = None) -> None:
        from ._client import NotFound, Task, _split

        if isinstance(task, str):
            pieces = _split(task, 5, "DataArtifact")
            task, name = Task("/".join(pieces[:4])), pieces[4]
            key = task.artifact_keys.get(name)
            if key is None:
                raise NotFound(
                    f"artifact {task.pathspec}/{name} not found: the task has no artifact '{name}'"
                )
        assert name is not None and key is not None
        self.task = task
        self.id = name
        self.sha = key
        self.pathspec = f"{task.pathspec}/{name}"
        self._size: int | None = None

    def _payload(self) -> memoryview:
        payload = BlobStore(ns.storage(), self.task.flow_name).get_payload(self.sha, self.pathspec)
        self._size = payload.nbytes
        return payload

    @property
    def data(self) -> Any:
        """The value, read afresh on each access (so two reads never share mutable memory)."""
        from rayflow.datastore import unpickle

        return unpickle(self._payload())

    @property
    def size(self) -> int:
        """Size of the stored value in bytes (the pickle, with any large buffers kept beside it):
        as recorded when the artifact was written, else (older records) from the blob itself."""
        if self._size is None:
            self._size = self.task.artifact_sizes.get(self.id)
        if self._size is None:
            self._payload()
        assert self._size is not None
        return self._size

    @property
    def finished_at(self) -> datetime | None:
        return self.task.finished_at

    @property
    def tags(self) -> frozenset[str]:
        """The tags of the artifact's run, as in Metaflow."""
        return self.task.tags

    def __repr__(self) -> str:
        return f"DataArtifact('{self.pathspec}')"


class MetaflowArtifacts(_ByName):
    """``task.artifacts``: every artifact as a DataArtifact, by attribute or by iteration."""

    def _get(self, name: str) -> DataArtifact:
        return self._task[name]

    def __iter__(self):  # noqa: ANN204 - an iterator of DataArtifact
        return iter(self._task)


class TaskException:
    """A failed attempt's exception as recorded: ``type`` (qualified, e.g.
    ``builtins.ValueError``), ``exception`` (the message) and ``stacktrace``, like Metaflow's
    wrapper; ``str()`` is the traceback."""

    def __init__(self, record: dict[str, Any]) -> None:
        name = record.get("type") or "Exception"
        self.type = record.get("qualified_type") or (name if "." in name else f"builtins.{name}")
        self.exception = self.message = record.get("message", "")
        self.stacktrace = self.traceback = record.get("traceback", "")

    def __str__(self) -> str:
        return self.stacktrace or f"{self.type}: {self.exception}"

    def __repr__(self) -> str:
        return f"<TaskException {self.type}: {self.exception}>"
