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
    code written for Metaflow expects.

    ``metaflow_name``: the type name Metaflow reports for this class (``@catch``'s ``type``,
    ``task.exception.type``), set on each class rayflow offers under a Metaflow name, since code
    written for Metaflow compares those strings; read from the class itself only, so a user's
    subclass is named by its own module (``_tracebacks.qualified_name``)."""

    headline = "Flow failed"
    metaflow_name = "metaflow.exception.MetaflowException"

    def __init__(
        self, msg: str = "", lineno: int | None = None, source_file: str | None = None
    ) -> None:
        self.message = msg
        self.line_no = lineno
        self.source_file = source_file
        super().__init__(msg)


class MergeArtifactsError(SchedulerError, MetaflowException):
    headline = "Unable to merge artifacts"
    metaflow_name = "metaflow.exception.MergeArtifactsException"


class UnhandledInMergeArtifactsException(MergeArtifactsError):
    """Inputs of a join disagree on an artifact the join did not set itself (Metaflow's name)."""

    metaflow_name = "metaflow.exception.UnhandledInMergeArtifactsException"

    def __init__(self, msg: str, unhandled: list[str] | None = None) -> None:
        super().__init__(msg)
        self.artifact_names = list(unhandled or [])


class MissingInMergeArtifactsException(MergeArtifactsError):
    """An artifact named in ``include=`` is in no input of the join (Metaflow's name)."""

    metaflow_name = "metaflow.exception.MissingInMergeArtifactsException"

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


class TimeoutException(MetaflowException):
    """Raised inside a step that ran past its @timeout (Metaflow's class of that name; users
    import it from ``rayflow.plugins.timeout_decorator``)."""

    headline = "@timeout"
    metaflow_name = "metaflow.plugins.timeout_decorator.TimeoutException"


StepTimeout = TimeoutException  # rayflow's earlier name


class FailureHandledByCatch(MetaflowException):
    """What ``@catch`` stores when the step's worker process died (its exit code or signal) and
    no exception of the step's own is left to store (Metaflow's class of that name; users
    import it from ``rayflow.plugins.catch_decorator``)."""

    headline = "Task execution failed but @catch handled it"
    metaflow_name = "metaflow.plugins.catch_decorator.FailureHandledByCatch"


WorkerDied = FailureHandledByCatch  # rayflow's earlier name


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM arrived before the run was recorded: nothing ran."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum


class DecoratorError(SchedulerError):
    """A step decorator got options it does not accept."""
