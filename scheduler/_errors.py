"""Errors raised by the scheduler; the API layer catches them as user errors.

The scheduler cannot import the user API (dependencies point one way), so its errors subclass
``UserFacingError``, the base every layer treats as a user's error (defined in the datastore, the
bottom layer, beside ``DatastoreError``, which is its sibling, not its parent).
"""

from __future__ import annotations

from rayflow.datastore import UserFacingError


class SchedulerError(UserFacingError):
    """Base class of the scheduler's user-facing errors."""


class MergeArtifactsError(SchedulerError):
    pass


class TransitionError(SchedulerError):
    pass


class ForeachError(SchedulerError):
    pass


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
