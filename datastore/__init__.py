"""rayflow.datastore: fsspec-backed storage of runs, tasks, artifacts and logs.

Imports nothing else of rayflow, so it can be used alone to read a datastore.
"""

from __future__ import annotations

import os

from . import _cards as cards
from . import _gc as gc
from . import _listing as listing
from . import _pages as pages
from . import _paths as paths
from . import _records as records
from . import _settings as settings
from . import _taskrecord as taskrecords
from ._blobs import BlobStore, Packed, content_key, pack, pickle_value, unpickle
from ._errors import (
    ArtifactPickleError,
    BlobCorruptError,
    BlobMissingError,
    DamagedRecordError,
    DatastoreError,
    DatastoreURLError,
    InvalidNameError,
    MissingRecordError,
    UserFacingError,
)
from ._fsspec import FsspecStorage
from ._liveness import CRASHED, effective_status, heartbeat_interval
from ._local import LocalStorage
from ._parallel import concurrent, run_all
from ._storage import FileStat, Storage, open_storage
from ._taskrecord import TaskRecord

__all__ = [
    "CRASHED",
    "ArtifactPickleError",
    "BlobCorruptError",
    "BlobMissingError",
    "BlobStore",
    "DamagedRecordError",
    "DatastoreError",
    "DatastoreURLError",
    "FileStat",
    "FsspecStorage",
    "InvalidNameError",
    "LocalStorage",
    "MissingRecordError",
    "UserFacingError",
    "Packed",
    "Storage",
    "concurrent",
    "content_key",
    "default_url",
    "effective_status",
    "gc",
    "heartbeat_interval",
    "listing",
    "open_storage",
    "pack",
    "pages",
    "paths",
    "pickle_value",
    "records",
    "settings",
    "run_all",
    "taskrecords",
    "TaskRecord",
    "cards",
    "unpickle",
]


def default_url(start: str | None = None) -> str:
    """``RAYFLOW_DATASTORE``, else the nearest ``.rayflow`` folder upwards, else ``./.rayflow``."""
    env = settings.datastore()
    if env:
        return env
    here = os.path.abspath(start or os.getcwd())
    probe = here
    while True:
        candidate = os.path.join(probe, ".rayflow")
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(probe)
        if parent == probe:
            return os.path.join(here, ".rayflow")
        probe = parent
