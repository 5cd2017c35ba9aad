"""``Run``: one run's record, steps, status, tags and lineage (Metaflow's Run)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rayflow.datastore import BlobStore, DamagedRecordError, MissingRecordError, records

from . import _namespace as ns
from ._artifacts import MetaflowData, to_datetime
from ._client_common import (
    DamagedRecord,
    NotFound,
    NotInNamespace,
    _check_tags,
    _in_namespace,
    _listed,
    _read_run,
    _split,
)
from ._client_compat import RunCompat
from ._client_step import Step
from ._client_task import Task
from ._errors import RayflowError

if TYPE_CHECKING:
    from ._client_flow import Flow


class Run(RunCompat):
    def __init__(
        self, pathspec: str, _record: dict | None = None, _namespace_check: bool = True
    ) -> None:
        self.flow_name, self.id = _split(pathspec, 2, "Run")
        self.pathspec = f"{self.flow_name}/{self.id}"
        self._record = _record
        self._namespace_check = _namespace_check
        self._mutated: frozenset[str] | None = (
            None  # the user tags this object's last mutation made
        )
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
                raise NotInNamespace(
                    f"run {self.pathspec} is not in namespace {ns.get_namespace()!r} "
                    "(use namespace(None) to see every run)"
                )
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
        """``running``, ``successful``, ``failed``, ``pruned``, ``cancelled`` (``AsyncRun.cancel``,
        ``rayflow cancel``), or ``crashed`` when the run's driver stopped without recording an
        end (its heartbeat went stale)."""
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
        """The run's user tags, read afresh; after a tag mutation through this object, the tags
        that mutation made (as Metaflow's Run keeps them: a concurrent writer's later change of
        the same tag does not show until a new ``Run`` is made)."""
        if self._mutated is not None:
            return self._mutated
        return frozenset(self._load(refresh=True).get("tags", []))

    @property
    def parent(self) -> Flow:
        from ._client_flow import Flow

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
        data = BlobStore(ns.storage(), self.flow_name).get_bytes(
            key, f"{self.pathspec} (flow code)"
        )
        return data.decode("utf-8")

    @property
    def lineage(self) -> dict[str, Any]:
        """Where and with what the run ran: versions, user, host, git commit and dirty flag."""
        keep = (
            "user",
            "host",
            "python",
            "ray_version",
            "rayflow_version",
            "flow_file",
            "code_file",
            "code_key",
            "git_root",
            "git_commit",
            "git_dirty",
            "origin_run_id",
        )
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
        self._record, self._mutated = None, frozenset(new)
        return self._mutated

    def remove_tag(self, tag: str | list[str]) -> frozenset[str]:
        return self.remove_tags(_listed(tag))

    def remove_tags(self, tags: Iterable[str]) -> frozenset[str]:
        """Remove user tags (system tags such as ``user:NAME`` cannot be removed)."""
        wanted = _check_tags(tags)
        system = [t for t in wanted if t in self.system_tags and t not in self.user_tags]
        if system:
            raise RayflowError(f"cannot remove system tag {system[0]!r} of run {self.pathspec}")
        new = records.update_run_tags(ns.storage(), self.flow_name, self.id, remove=wanted)
        self._record, self._mutated = None, frozenset(new)
        return self._mutated

    def __repr__(self) -> str:
        return f"Run('{self.pathspec}')"
