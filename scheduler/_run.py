"""A run's result (``RunResult``), the run.json facts ``launch`` (``_launch.py``) records, and
``run_flow``, the keyword form of ``launch``."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from rayflow.datastore import (
    DatastoreURLError,
    Storage,
    paths,
    records,
)

from ._identity import new_run_id


@dataclass
class RunResult:
    flow: str
    run_id: str
    status: str
    datastore: str
    failures: list[tuple[str, dict]] = field(default_factory=list)
    executed: list[tuple[str, str]] = field(default_factory=list)
    cloned: list[tuple[str, str]] = field(default_factory=list)
    cached: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    ray_seconds: float | None = None  # spent starting Ray (or joining a cluster), when this run did
    ray_joined: bool = False  # Ray was a cluster joined, not an embedded instance started
    cancelled: list[str] = field(default_factory=list)  # labels of tasks --fail-fast stopped
    signum: int = 0  # the signal that interrupted the run (SIGINT or SIGTERM), else 0

    @property
    def pathspec(self) -> str:
        return f"{self.flow}/{self.run_id}"

    @property
    def successful(self) -> bool:
        return self.status == "successful"


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        text = repr(value)
        return text if len(text) < 200 else text[:197] + "..."


def _unusable(storage: Storage, exc: OSError) -> DatastoreURLError:
    """One line for a datastore that failed when the run started (full disk, read-only...)."""
    text = exc.strerror or str(exc)
    return DatastoreURLError(f"datastore {storage.url} is not usable: {text[:1].lower()}{text[1:]}")


def _claim_run_id(storage: Storage, flow: str, run_id: str | None) -> str:
    if run_id is not None:
        paths.check_run_id(run_id)
        if records.run_exists(storage, flow, run_id):
            raise DatastoreURLError(f"run {flow}/{run_id} already exists in {storage.url}")
        return run_id
    for _ in range(20):
        candidate = new_run_id()
        if not records.run_exists(storage, flow, candidate):
            return candidate
    raise DatastoreURLError("could not find a free run id")


def _system_tags(flow_cls: type, user: str) -> list[str]:
    """Metaflow's system tags; ``@project`` adds its project and branch."""
    tags = [f"user:{user}", "runtime:dev", f"python_version:{platform.python_version()}"]
    project = getattr(flow_cls, "_rf_project", None)
    if project:
        branch = getattr(flow_cls, "_rf_project_branch", None) or f"user.{user}"
        tags += [f"project:{project}", f"project_branch:{branch}"]
    return tags


def _shown_path(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _class_bytes(flow_cls: type) -> bytes:
    module = sys.modules.get(flow_cls.__module__)
    if module is not None and flow_cls.__module__ != "__main__":
        try:
            cloudpickle.register_pickle_by_value(module)
        except ValueError:
            pass
    return cloudpickle.dumps(flow_cls)


def run_flow(
    flow_cls: type, plan: dict[str, dict[str, Any]], params: dict[str, Any], **options: Any
) -> RunResult:
    """``launch(RunRequest(flow_cls, plan, params, **options))``: the keyword form tests and
    benchmarks use; ``options`` are ``RunRequest``'s fields."""
    from ._launch import launch
    from ._request import RunRequest

    return launch(RunRequest(flow_cls, plan, params, **options))
