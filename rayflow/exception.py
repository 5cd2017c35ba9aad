"""``rayflow.exception``: Metaflow's ``metaflow.exception`` names, so imports of them keep working.

``MetaflowException`` is a base class user code subclasses (with a ``headline``), and the base
of the errors ``merge_artifacts`` and ``self.next`` raise in a step; the client's
not-found errors are rayflow's own classes under Metaflow's names, so ``except
MetaflowNotFound`` catches what rayflow's client raises.
"""

from __future__ import annotations

from rayflow.scheduler import MergeArtifactsError
from rayflow.scheduler._errors import (
    MetaflowException,
    MissingInMergeArtifactsException,
    TimeoutException,
    UnhandledInMergeArtifactsException,
)

from ._client import NotFound, NotInNamespace
from ._errors import ParameterError, RayflowError


class ExternalCommandFailed(MetaflowException):
    headline = "External command failed"
    metaflow_name = "metaflow.exception.ExternalCommandFailed"


MetaflowNotFound = NotFound
MetaflowNamespaceMismatch = NotInNamespace
MetaflowInternalError = RayflowError
MetaflowDataMissing = NotFound
CommandException = RayflowError
MergeArtifactsException = MergeArtifactsError
ParameterFieldFailed = ParameterError

__all__ = [
    "CommandException",
    "ExternalCommandFailed",
    "MergeArtifactsException",
    "MetaflowDataMissing",
    "MetaflowException",
    "MetaflowInternalError",
    "MetaflowNamespaceMismatch",
    "MetaflowNotFound",
    "MissingInMergeArtifactsException",
    "ParameterFieldFailed",
    "TimeoutException",
    "UnhandledInMergeArtifactsException",
]
