"""Errors raised by the scheduler; the API layer catches them as user errors.

The scheduler cannot import the user API (dependencies point one way), so its errors subclass
the datastore's base class, which every layer already treats as a user-facing error.
"""

from __future__ import annotations

from rayflow.datastore import DatastoreError


class SchedulerError(DatastoreError):
    """Base class of the scheduler's user-facing errors."""


class MergeArtifactsError(SchedulerError):
    pass


class UnhandledInMergeArtifactsException(MergeArtifactsError):
    """Inputs of a join disagree on an artifact the join did not set itself (Metaflow's name)."""

    def __init__(self, msg: str, unhandled: list[str] | None = None) -> None:
        super().__init__(msg)
        self.artifact_names = list(unhandled or [])


class MissingInMergeArtifactsException(MergeArtifactsError):
    """An artifact named in ``include=`` is in no input of the join (Metaflow's name)."""

    def __init__(self, msg: str, missing: list[str] | None = None) -> None:
        super().__init__(msg)
        self.artifact_names = list(missing or [])


class TransitionError(SchedulerError):
    pass


class ForeachError(SchedulerError):
    pass


class ClusterError(SchedulerError):
    pass


class ResumeError(SchedulerError):
    pass


class StepTimeout(Exception):
    """Raised inside a step that ran past its @timeout."""


class WorkerDied(Exception):
    """What ``@catch`` stores when the step's worker process died (its exit code or signal)."""
