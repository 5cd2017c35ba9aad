"""Every error a user can meet, each with a message that says what to fix and where."""

from __future__ import annotations

from rayflow.datastore import UserFacingError
from rayflow.scheduler import (
    ClusterError,
    DecoratorError,
    ForeachError,
    MergeArtifactsError,
    ResumeError,
    SchedulerError,
)
from rayflow.scheduler import TransitionError as InvalidTransitionError


class RayflowError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero, without a traceback."""

    exit_code = 1


class FlowLoadError(RayflowError):
    """The flow file is missing, does not parse, or holds no (or several) flows."""


class LintError(RayflowError):
    """The static graph has problems; ``problems`` holds one ``file:line: step 'x': ...`` each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ParameterError(RayflowError):
    """A parameter value is missing, unknown, or of the wrong type."""

    exit_code = 2


class ConfigError(RayflowError):
    """A Config's value cannot be read or parsed, is missing, or a config expression fails."""

    exit_code = 2


class DetachError(RayflowError):
    """A detached run cannot be submitted, found or cancelled: the cluster's job server is
    unreachable, refuses the token, runs other versions, or cannot see the datastore."""


class RunFailed(RayflowError):
    """A run ended with failed tasks; the failures were already shown."""


class CardNotPresentException(RayflowError):
    """No card of the task matches (``card get``); the message starts as Metaflow's does."""

    headline = "Card not found in datastore"


__all__ = [
    "CardNotPresentException",
    "ClusterError",
    "ConfigError",
    "DecoratorError",
    "DetachError",
    "FlowLoadError",
    "ForeachError",
    "InvalidTransitionError",
    "LintError",
    "MergeArtifactsError",
    "ParameterError",
    "RayflowError",
    "ResumeError",
    "RunFailed",
    "SchedulerError",
    "USER_ERRORS",
]

USER_ERRORS = (RayflowError, UserFacingError)
