"""``rayflow.client``: Metaflow's ``metaflow.client`` path for the client API (``from
metaflow.client import Flow, namespace``); the same objects as ``rayflow.Flow`` etc."""

from __future__ import annotations

from ._artifacts import DataArtifact, MetaflowArtifacts, MetaflowData
from ._client import Flow, NotFound, NotInNamespace, Run, Step, Task
from ._namespace import default_namespace, get_metadata, get_namespace, metadata, namespace

__all__ = [
    "DataArtifact",
    "Flow",
    "MetaflowArtifacts",
    "MetaflowData",
    "NotFound",
    "NotInNamespace",
    "Run",
    "Step",
    "Task",
    "default_namespace",
    "get_metadata",
    "get_namespace",
    "metadata",
    "namespace",
]
