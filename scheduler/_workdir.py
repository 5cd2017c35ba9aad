"""Keep every task in the shipped folder, even when Ray re-created that folder under a worker.

On a cluster, Ray unpacks the job's ``working_dir`` once per node into
``<session>/runtime_resources/working_dir_files/_ray_pkg_<hash>`` and starts each worker with
``cd`` into it (so ``PWD`` names it). Raylets that share one session folder (several nodes on
one machine started with the same temp dir) share that folder too, and Ray unpacks with
overwrite: the node that unpacks second deletes and re-creates the folder under the live
workers of the first. Those workers keep a deleted directory as their working directory, so a
step's relative paths (``open("data.txt")``) fail in every later task they run. Before each
task, a worker whose working directory is gone goes back into the folder by its path, after
waiting for Ray's unpacking lock if Ray is unpacking it right now.
"""

from __future__ import annotations

import os

UNPACK_WAIT_S = 60.0  # at most this long for Ray to finish unpacking the folder again


def reenter_shipped_folder() -> str | None:
    """``chdir`` back into the folder this worker was started in when its working directory
    was deleted; return that folder, or None when nothing had to be done (or could be)."""
    try:
        os.getcwd()
        return None
    except FileNotFoundError:
        pass
    folder = os.environ.get("PWD")
    if not folder or not os.path.isabs(folder):
        return None
    _wait_for_unpacking(folder)
    try:
        os.chdir(folder)
    except OSError:
        return None
    return folder


def _wait_for_unpacking(folder: str) -> None:
    """Ray holds ``<folder>.zip.lock`` (a ``filelock`` lock) while it deletes and unpacks
    ``<folder>``: taking it once means the folder is whole again."""
    lock = folder.rstrip("/") + ".zip.lock"
    if not os.path.basename(folder.rstrip("/")).startswith("_ray_pkg_") or not os.path.exists(lock):
        return
    try:
        from filelock import FileLock, Timeout
    except ImportError:
        return
    try:
        with FileLock(lock, timeout=UNPACK_WAIT_S):
            pass
    except (Timeout, OSError):
        pass
