"""The processes of one Ray instance, found by its private temp dir, so a test can check or end
exactly what it started (never ``ray stop``, which would end every Ray on the machine)."""

from __future__ import annotations

import os
import signal


def instance_processes(ray_tmp: str, exclude: int = 0) -> dict[int, str]:
    marker = ray_tmp.encode()
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (exclude, os.getpid()):
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and (
            marker in cmd
            or b"RAY_TMPDIR=" + marker + b"\0" in env
            or _has_file_in(int(name), ray_tmp)
        ):
            found[int(name)] = cmd.replace(b"\0", b" ").decode("utf-8", "replace").strip()
    return found


def _has_file_in(pid: int, folder: str) -> bool:
    """Ray renames its processes (setproctitle), which can blank the environment /proc shows;
    each still holds its log files in the instance's session folder."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(folder + "/"):
                return True
        except OSError:
            continue
    return False


def kill_ray_of(ray_tmp: str) -> None:
    """SIGKILL every process of the Ray instance that runs with this private temp dir."""
    for pid in instance_processes(ray_tmp):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
