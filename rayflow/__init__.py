"""rayflow: Metaflow's way of writing ML workflows, executed on Ray.

Change ``from metaflow import ...`` to ``from rayflow import ...`` and the flow runs on Ray.
"""

from __future__ import annotations

from ._async_run import AsyncRun
from ._client import DataArtifact, Flow, MetaflowData, NotFound, NotInNamespace, Run, Step, Task
from ._configs import Config, ConfigValue, config_expr
from ._current import current
from ._decorators import (
    batch,
    cache,
    card,
    catch,
    concurrency,
    conda,
    conda_base,
    environment,
    kubernetes,
    project,
    pypi,
    pypi_base,
    resources,
    retry,
    schedule,
    secrets,
    step,
    timeout,
    trigger,
    trigger_on_finish,
)
from ._errors import (
    ConfigError,
    FlowLoadError,
    LintError,
    MergeArtifactsError,
    ParameterError,
    RayflowError,
)
from ._flowspec import FlowSpec
from ._helpers import parallel_imap_unordered, parallel_map, profile
from ._namespace import default_namespace, get_metadata, get_namespace, metadata, namespace
from ._parallel import parallel
from ._parameters import IncludeFile, JSONType, Parameter
from ._runner import Runner, RunOutcome

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "ConfigValue",
    "config_expr",
    "AsyncRun",
    "DataArtifact",
    "MetaflowData",
    "NotInNamespace",
    "Flow",
    "NotFound",
    "Run",
    "RunOutcome",
    "Runner",
    "Step",
    "Task",
    "default_namespace",
    "get_metadata",
    "get_namespace",
    "metadata",
    "namespace",
    "FlowLoadError",
    "FlowSpec",
    "IncludeFile",
    "JSONType",
    "LintError",
    "MergeArtifactsError",
    "Parameter",
    "ParameterError",
    "RayflowError",
    "batch",
    "cache",
    "card",
    "catch",
    "concurrency",
    "conda",
    "conda_base",
    "current",
    "environment",
    "kubernetes",
    "project",
    "pypi",
    "parallel",
    "parallel_imap_unordered",
    "parallel_map",
    "profile",
    "pypi_base",
    "resources",
    "retry",
    "schedule",
    "secrets",
    "step",
    "timeout",
    "trigger",
    "trigger_on_finish",
]
