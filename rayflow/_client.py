"""The client API: read past runs, their artifacts and logs (Metaflow's Flow/Run/Step/Task).

Everything is read through ``rayflow.datastore``; artifacts are loaded only when asked for.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from rayflow.datastore import (
    BlobStore,
    DamagedRecordError,
    MissingRecordError,
    TaskRecord,
    listing,
    records,
    taskrecords,
)

from . import _namespace as ns
from ._artifacts import DataArtifact, MetaflowArtifacts, MetaflowData, TaskException, to_datetime
from ._client_compat import FlowCompat, RunCompat, StepCompat, TaskCompat
from ._errors import RayflowError

TASK_BATCH = 2000
"""Task records read per batch by ``Step.tasks`` (bounds the requests and memory of one batch)."""


class NotFound(RayflowError):
    """A flow, run, step, task or artifact that was asked for does not exist."""


class NotInNamespace(NotFound):
    """The object exists but not in the current namespace."""


class DamagedRecord(NotFound):
    """The run's or task's record exists but cannot be decoded; the message names the file.
    A NotFound: nothing can be read from it, and listings leave it out (with a warning)."""


def _warn(text: str) -> None:
    """One line on stderr: listings go on without what they had to skip, but say so."""
    print(f"rayflow: warning: {text}", file=sys.stderr)


def _split(pathspec: str, parts: int, kind: str) -> list[str]:
    pieces = pathspec.strip("/").split("/")
    if len(pieces) != parts or not all(pieces):
        shape = "/".join(["Flow", "run_id", "step", "task_id", "artifact"][:parts])
        raise NotFound(f"{kind} pathspec must look like {shape}, got {pathspec!r}")
    return pieces


def _check_tags(tags: Iterable[str]) -> list[str]:
    out = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > 512 or not _utf8(tag):
            raise RayflowError(f"invalid tag {tag!r}: a tag is a non-empty UTF-8 string of at most 512 characters")
        out.append(tag)
    return out


def _utf8(text: str) -> bool:
    """False for a string holding undecodable bytes (``surrogateescape``, e.g. from argv)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _listed(tags: str | list[str] | tuple[str, ...]) -> list[str]:
    """Metaflow's ``add_tag``/``remove_tag``/``replace_tag`` also take a list (deprecated form)."""
    return list(tags) if isinstance(tags, (list, tuple)) else [tags]


def _in_namespace(run_record: dict) -> bool:
    current = ns.get_namespace()
    if current is None:
        return True
    tags = set(run_record.get("tags", [])) | set(run_record.get("system_tags", []))
    return current in tags


def _running_task_meta(pathspec: str) -> dict | None:
    """What a running step reads of its own task (``Task(current.pathspec)``), before its record
    exists: no artifacts yet, its attempt. ``None`` for any other task."""
    from ._current import current

    if current.pathspec != pathspec:
        return None
    return {"attempt": current.retry_count or 0, "status": "running", "artifacts": {}}


def _read_run(flow: str, run_id: str) -> dict:
    """run.json as readers show it: a run whose driver died reads ``crashed``, not ``running``."""
    storage = ns.storage()
    return records.with_effective_status(storage, flow, run_id, records.read_run(storage, flow, run_id))


class Task(TaskCompat):
    """One task. ``Task('Flow/run/step/task_id')`` checks at once that it exists (and that its run
    is in the current namespace); tasks listed by a ``Step`` read their record on first use."""

    def __init__(self, pathspec: str, _meta: TaskRecord | None = None, _lazy: bool = False,
                 _namespace_check: bool = True) -> None:
        self.flow_name, self.run_id, self.step_name, self.id = _split(pathspec, 4, "Task")
        self.pathspec = "/".join([self.flow_name, self.run_id, self.step_name, self.id])
        self._meta = _meta
        if not _lazy and _meta is None:
            Run(f"{self.flow_name}/{self.run_id}", _namespace_check=_namespace_check)
            self._load()

    def _load(self) -> TaskRecord:
        """The task's record (``datastore.taskrecords``): its finished attempt, else its latest."""
        if self._meta is None:
            try:
                self._meta = taskrecords.read_task(ns.storage(), self.flow_name, self.run_id,
                                                   self.step_name, self.id)
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
    def metadata(self) -> dict[str, Any]:
        m = self._load().to_json()
        keep = ("attempt", "node_id", "host", "pid", "ready_at", "started_at", "finished_at", "status",
                "origin", "inputs", "frames")
        return {k: m.get(k) for k in keep if k in m}

    @property
    def metadata_dict(self) -> dict[str, Any]:
        """The metadata as strings, with Metaflow's resume keys: ``origin-run-id`` on every task
        of a resumed run, ``origin-task-id`` on a task cloned from it."""
        origin = self._load().origin
        source = self
        if origin and origin.get("pathspec"):  # a cloned task: the facts of the computation
            try:
                source = Task(origin["pathspec"], _lazy=True)
                source._load()
            except NotFound:
                source = self
        out = {k: "" if v is None else str(v) for k, v in source.metadata.items() if k != "origin"}
        record = Run(f"{self.flow_name}/{self.run_id}", _namespace_check=False)._load()
        if record.get("python"):
            out["python_version"] = str(record["python"])
        origin_run = record.get("origin_run_id")
        if origin_run:
            out["origin-run-id"] = str(origin_run)
        if origin and origin.get("pathspec"):
            out["origin-task-id"] = origin["pathspec"].rsplit("/", 1)[-1]
        return out

    @property
    def parent(self) -> Step:
        return Step(f"{self.flow_name}/{self.run_id}/{self.step_name}", _lazy=True)

    @property
    def tags(self) -> frozenset[str]:
        return Run(f"{self.flow_name}/{self.run_id}", _namespace_check=False).tags

    @property
    def index(self) -> int | None:
        frames = [f for f in self._load().frames if f[0] != "*"]  # "*": a loop iteration
        return frames[-1][1] if frames else None

    @property
    def exception(self) -> TaskException | None:
        """The exception of the task's last attempt (also when ``@catch`` caught it), or None."""
        exc = self._load().exception
        return TaskException(exc) if exc else None

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


class Step(StepCompat):
    """One step of a run; ``Step('Flow/run/step')`` checks at once that the step exists."""

    def __init__(self, pathspec: str, _lazy: bool = False, _namespace_check: bool = True) -> None:
        self.flow_name, self.run_id, self.id = _split(pathspec, 3, "Step")
        self.pathspec = "/".join([self.flow_name, self.run_id, self.id])
        if not _lazy:
            run = Run(f"{self.flow_name}/{self.run_id}", _namespace_check=_namespace_check)
            if self.id not in run:
                raise NotFound(f"step {self.pathspec} not found in {ns.get_metadata()}")

    def tasks(self, *tags: str) -> list[Task]:
        """Every task with its record, read in batches (a few round trips per batch, not one
        per task); a task whose record is damaged or not written yet reads it on first use.
        With ``tags``, none unless the run has every one of them."""
        if tags and not set(tags) <= self.tags:
            return []
        storage = ns.storage()
        ids = records.list_tasks(storage, self.flow_name, self.run_id, self.id)
        out = []
        for start in range(0, len(ids), TASK_BATCH):
            chunk = ids[start:start + TASK_BATCH]
            found = listing.read_tasks(storage, self.flow_name, self.run_id, self.id, chunk)
            for t in chunk:
                rec = found.get(t)
                if isinstance(rec, TaskRecord):
                    out.append(Task(f"{self.pathspec}/{t}", _meta=rec, _lazy=True))
                else:
                    out.append(Task(f"{self.pathspec}/{t}", _lazy=True))
        return out

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks())

    def __getitem__(self, task_id: str) -> Task:
        task = Task(f"{self.pathspec}/{task_id}", _lazy=True)
        try:
            task._load()
        except NotFound:
            raise KeyError(f"step {self.pathspec} has no task '{task_id}'") from None
        return task

    @property
    def task(self) -> Task:
        ids = records.list_tasks(ns.storage(), self.flow_name, self.run_id, self.id)
        if not ids:
            raise NotFound(f"step {self.pathspec} has no tasks")
        return Task(f"{self.pathspec}/{ids[0]}", _lazy=True)

    @property
    def finished_at(self) -> datetime | None:
        times = [t.finished_at for t in self.tasks() if t.finished_at]
        return max(times) if times else None

    @property
    def parent(self) -> Run:
        """The step's run; reached from an object already in hand, so not checked against the
        namespace again (as in Metaflow, where pickled objects are walked in any namespace)."""
        return Run(f"{self.flow_name}/{self.run_id}", _namespace_check=False)

    def __repr__(self) -> str:
        return f"Step('{self.pathspec}')"

class Run(RunCompat):
    def __init__(self, pathspec: str, _record: dict | None = None, _namespace_check: bool = True) -> None:
        self.flow_name, self.id = _split(pathspec, 2, "Run")
        self.pathspec = f"{self.flow_name}/{self.id}"
        self._record = _record
        self._namespace_check = _namespace_check
        if _record is None:
            self._load()

    def _load(self, refresh: bool = False) -> dict:
        if self._record is None or refresh:
            try:
                self._record = _read_run(self.flow_name, self.id)
            except DamagedRecordError as exc:
                raise DamagedRecord(f"run {self.pathspec}: {exc}") from None
            except MissingRecordError:
                raise NotFound(f"run {self.pathspec} not found in {ns.get_metadata()}") from None
            if self._namespace_check and not _in_namespace(self._record):
                raise NotInNamespace(f"run {self.pathspec} is not in namespace {ns.get_namespace()!r} "
                                     "(use namespace(None) to see every run)")
        return self._record

    @property
    def record(self) -> dict:
        return dict(self._load(refresh=True))

    def steps(self, *tags: str) -> list[Step]:
        """The run's steps in plan order; with ``tags``, none unless the run has all of them."""
        if tags and not set(tags) <= self.tags:
            return []
        plan = self._load().get("plan") or {}
        present = set(records.list_steps(ns.storage(), self.flow_name, self.id))
        ordered = [s for s in plan if s in present] + sorted(present - set(plan))
        return [Step(f"{self.pathspec}/{s}", _lazy=True) for s in ordered]

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps())

    def __getitem__(self, step: str) -> Step:
        if step not in records.list_steps(ns.storage(), self.flow_name, self.id):
            raise KeyError(f"run {self.pathspec} has no step '{step}'")
        return Step(f"{self.pathspec}/{step}", _lazy=True)

    def __contains__(self, step: str) -> bool:
        return step in records.list_steps(ns.storage(), self.flow_name, self.id)

    @property
    def end_task(self) -> Task | None:
        task = Task(f"{self.pathspec}/end/0", _lazy=True)
        try:
            task._load()
        except NotFound:
            return None
        return task

    @property
    def data(self) -> MetaflowData | None:
        task = self.end_task
        return task.data if task is not None else None

    @property
    def status(self) -> str:
        """``running``, ``successful``, ``failed``, ``pruned``, ``cancelled`` (``AsyncRun.cancel``),
        or ``crashed`` when the run's
        driver stopped without recording an end (its heartbeat went stale)."""
        return self._load(refresh=True).get("status", "unknown")

    @property
    def successful(self) -> bool:
        return self.status == "successful"

    @property
    def finished(self) -> bool:
        """As in Metaflow: the run's ``end`` step completed (a failed run is not finished)."""
        task = self.end_task
        return task is not None and task.finished

    @property
    def created_at(self) -> datetime | None:
        return to_datetime(self._load().get("created_at"))

    @property
    def finished_at(self) -> datetime | None:
        return to_datetime(self._load(refresh=True).get("finished_at"))

    @property
    def tags(self) -> frozenset[str]:
        """User and system tags, as in Metaflow (``user_tags`` for the user's alone)."""
        return self.user_tags | self.system_tags

    @property
    def user_tags(self) -> frozenset[str]:
        return frozenset(self._load(refresh=True).get("tags", []))

    @property
    def parent(self) -> Flow:
        return Flow(self.flow_name)

    @property
    def system_tags(self) -> frozenset[str]:
        return frozenset(self._load().get("system_tags", []))

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self._load().get("parameters", {}))

    @property
    def origin_pathspec(self) -> str | None:
        origin = self._load().get("origin_run_id")
        return f"{self.flow_name}/{origin}" if origin else None

    @property
    def user(self) -> str | None:
        return self._load().get("user")

    @property
    def code(self) -> str | None:
        """The flow source that ran (stored with the run), or ``None`` if it was not recorded."""
        key = self._load().get("code_key")
        if not key:
            return None
        data = BlobStore(ns.storage(), self.flow_name).get_bytes(key, f"{self.pathspec} (flow code)")
        return data.decode("utf-8")

    @property
    def lineage(self) -> dict[str, Any]:
        """Where and with what the run ran: versions, user, host, git commit and dirty flag."""
        keep = ("user", "host", "python", "ray_version", "rayflow_version", "flow_file", "code_file",
                "code_key", "git_root", "git_commit", "git_dirty", "origin_run_id")
        record = self._load()
        return {k: record[k] for k in keep if record.get(k) is not None}

    def add_tag(self, tag: str | list[str]) -> frozenset[str]:
        return self.add_tags(_listed(tag))

    def add_tags(self, tags: Iterable[str]) -> frozenset[str]:
        """Add user tags to the run (stored in run.json); return the run's tags. A tag that is
        already one of the run's system tags is not added again (as in Metaflow)."""
        system = self.system_tags
        wanted = [t for t in _check_tags(tags) if t not in system]
        new = records.update_run_tags(ns.storage(), self.flow_name, self.id, add=wanted)
        self._record = None
        return frozenset(new)

    def remove_tag(self, tag: str | list[str]) -> frozenset[str]:
        return self.remove_tags(_listed(tag))

    def remove_tags(self, tags: Iterable[str]) -> frozenset[str]:
        """Remove user tags (system tags such as ``user:NAME`` cannot be removed)."""
        wanted = _check_tags(tags)
        system = [t for t in wanted if t in self.system_tags and t not in self.user_tags]
        if system:
            raise RayflowError(f"cannot remove system tag {system[0]!r} of run {self.pathspec}")
        new = records.update_run_tags(ns.storage(), self.flow_name, self.id, remove=wanted)
        self._record = None
        return frozenset(new)

    def __repr__(self) -> str:
        return f"Run('{self.pathspec}')"

class Flow(FlowCompat):
    def __init__(self, name: str, _namespace_check: bool = True) -> None:
        self.id = self.pathspec = name
        if not records.list_runs(ns.storage(), name):
            raise NotFound(f"flow {name} not found in {ns.get_metadata()}")

    def runs(self, *tags: str) -> list[Run]:
        """Runs in the current namespace, newest first, having every tag in ``tags``."""
        out = []
        storage = ns.storage()
        run_ids = list(reversed(records.list_runs(storage, self.id)))
        found = listing.read_runs(storage, self.id, run_ids)  # a few round trips, not one per run
        for run_id in run_ids:
            record = found.get(run_id)
            if isinstance(record, DamagedRecordError):
                _warn(f"run {self.id}/{run_id} skipped: {record}")
                continue
            if record is None:
                continue
            if not _in_namespace(record):
                continue
            if tags and not set(tags) <= set(record.get("tags", [])) | set(record.get("system_tags", [])):
                continue
            out.append(Run(f"{self.id}/{run_id}", _record=record))
        return out

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs())

    def __getitem__(self, run_id: str) -> Run:
        return Run(f"{self.id}/{run_id}")

    @property
    def latest_run(self) -> Run | None:
        runs = self.runs()
        return runs[0] if runs else None

    @property
    def latest_successful_run(self) -> Run | None:
        return next((r for r in self.runs() if r.successful), None)

    def __repr__(self) -> str:
        return f"Flow('{self.id}')"
