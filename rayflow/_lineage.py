"""Lineage of a run: the code that ran and where it ran, recorded in run.json.

``lineage()`` returns the ``extra`` fields that ``run_flow`` merges into run.json:

- ``code_key``: blob key of the flow's source text (UTF-8, stored raw in the flow's blob store,
  so ``rayflow show RUN --code`` and ``Run.code`` print exactly what ran); ``code_file``: its name.
- ``python``, ``ray_version``, ``rayflow_version``, ``user``, ``host``.
- ``git_commit``, ``git_dirty`` (tracked files changed) and ``git_root`` when the flow file lives
  in a git work tree.

Every probe is best-effort: a missing ``git``, an unreadable source or a slow repository never
stops a run, the field is simply left out. Nothing here imports Ray.
"""

from __future__ import annotations

import inspect
import os
import platform
import subprocess
from typing import Any

_GIT_TIMEOUT = 5.0


def flow_source(flow_cls: type | None, flow_file: str | None) -> str | None:
    """The flow's source: the whole file when there is one, else the class (notebook cells)."""
    if flow_file and os.path.isfile(flow_file):
        try:
            with open(flow_file, encoding="utf-8") as f:
                return f.read()
        except (OSError, UnicodeDecodeError):
            pass
    if flow_cls is not None:
        try:
            return inspect.getsource(flow_cls)
        except (OSError, TypeError):
            return None
    return None


def _version(dist: str) -> str | None:
    from importlib import metadata as _dist

    try:
        return _dist.version(dist)
    except _dist.PackageNotFoundError:
        return None


def _git(cwd: str, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", cwd, *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_info(flow_file: str | None) -> dict[str, Any]:
    """``git_commit``/``git_dirty``/``git_root`` of the repository holding ``flow_file`` (or {})."""
    if not flow_file:
        return {}
    folder = os.path.dirname(os.path.abspath(flow_file))
    if not os.path.isdir(folder):
        return {}
    root = _git(folder, "rev-parse", "--show-toplevel")
    if not root:
        return {}
    info: dict[str, Any] = {"git_root": root}
    commit = _git(folder, "rev-parse", "HEAD")
    if commit:
        info["git_commit"] = commit
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    if status is not None:
        info["git_dirty"] = bool(status)
    return info


def lineage(flow_cls: type | None, flow_file: str | None, datastore: str) -> dict[str, Any]:
    """Fields for run.json; stores the flow's source as a blob in ``datastore``."""
    from rayflow.datastore import BlobStore, DatastoreError, DatastoreURLError, open_storage
    from rayflow.scheduler import username

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "ray_version": _version("ray"),
        "rayflow_version": _version("rayflow"),
        "user": username(),
        "host": platform.node(),
    }
    info.update(git_info(flow_file))
    source = flow_source(flow_cls, flow_file)
    if source is not None and flow_cls is not None:
        try:
            blobs = BlobStore(open_storage(datastore), flow_cls.__name__)
            info["code_key"] = blobs.put_bytes(source.encode("utf-8"))
            info["code_file"] = os.path.basename(flow_file) if flow_file else None
        except DatastoreURLError:
            raise  # no credentials, no endpoint, no bucket: said once, now, not after retries
        except (OSError, DatastoreError):
            pass  # run_flow reports an unusable datastore with its own message
    return info


__all__ = ["flow_source", "git_info", "lineage"]
