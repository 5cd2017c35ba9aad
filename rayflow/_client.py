"""The client API: read past runs, their artifacts and logs (Metaflow's Flow/Run/Step/Task).

Everything is read through ``rayflow.datastore``; artifacts are loaded only when asked for.
One module per object (``_client_flow``, ``_client_run``, ``_client_step``, ``_client_task``),
what they share in ``_client_common``; this module is where the rest of rayflow imports them.
"""

from __future__ import annotations

from ._artifacts import DataArtifact, MetaflowArtifacts, MetaflowData
from ._client_common import (
    TASK_BATCH,
    DamagedRecord,
    NotFound,
    NotInNamespace,
    _check_tags,
    _listed,
    _split,
)
from ._client_flow import Flow
from ._client_run import Run
from ._client_step import Step
from ._client_task import Task

__all__ = [
    "TASK_BATCH",
    "DamagedRecord",
    "DataArtifact",
    "Flow",
    "MetaflowArtifacts",
    "MetaflowData",
    "NotFound",
    "NotInNamespace",
    "Run",
    "Step",
    "Task",
    "_check_tags",
    "_listed",
    "_split",
]
