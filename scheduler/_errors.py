"""Errors raised by the scheduler; the API layer catches them as user errors.

The scheduler cannot import the user API (dependencies point one way), so its errors subclass
``UserFacingError``, the base every layer treats as a user's error (defined in the datastore, the
bottom layer, beside ``DatastoreError``, which is its sibling, not its parent).
"""

from __future__ import annotations

from rayflow.datastore import UserFacingError


class SchedulerError(UserFacingError):
    """Base class of the scheduler's user-facing errors."""


class MetaflowException(Exception):
    """Metaflow's base class of flow errors (``rayflow.exception.MetaflowException``), with a
    ``headline``. It lives at this layer so that the errors a step can meet here (a bad
    ``merge_artifacts``, a bad ``self.next``) are caught by ``except MetaflowException``, as
    code written for Metaflow expects."""

    headline = "Flow failed"

    def __init__(self, msg: str = "", lineno: int | None = None, source_file: str | None = None) -> None:
        self.message = msg
        self.line_no = lineno
        self.source_file = source_file
        super().__init__(msg)


class MergeArtifactsError(SchedulerError, MetaflowException):
    headline = "Unable to merge artifacts"


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


class TransitionError(SchedulerError, MetaflowException):
    headline = "Invalid self.next() transition"


class ForeachError(SchedulerError, MetaflowException):
    headline = "Invalid foreach"


class ClusterError(SchedulerError):
    pass


class ResumeError(SchedulerError):
    pass


class RayDied(SchedulerError):
    """The local Ray instance under the run died (its raylet or GCS exited)."""


class StepTimeout(Exception):
    """Raised inside a step that ran past its @timeout."""


class WorkerDied(Exception):
    """What ``@catch`` stores when the step's worker process died (its exit code or signal)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM arrived before the run was recorded: nothing ran."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum


class DecoratorError(SchedulerError):
    """A step decorator got options it does not accept."""
