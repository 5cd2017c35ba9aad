"""Stop a warm local Ray instance: at once (``rayflow shutdown``), or once it has been idle.

A warm instance (see _warm) outlives the run that started it, so nothing ties it to a driver:
this module ends it. Run by path as a detached process (standard library only, like the
watchdog), it is the instance's idle reaper: every few seconds, under the state lock, it drops
the leases of drivers that are gone (a SIGKILLed driver leaves its lease file behind; its pid
and start time say it is dead) and, when no lease is left and the last one ended longer ago than
the idle period, it removes the state file, ends every process of the instance and its temp
dir, and exits. It exits too when the state file names another instance (replaced or stopped).

An instance's processes are the ones marked with its owner token (in their environment) or
whose command line or open files lie in its own temp dir, as the watchdog recognises them;
processes of live drivers (a lease holder keeps its Ray log files open there) are spared.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterator

if __package__:
    from ._watchdog import ENV, _belongs, start_time
else:  # run by path: the watchdog module lies beside this file
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _watchdog import ENV, _belongs, start_time  # type: ignore[no-redef]

_GRACE_SECONDS = 1.5


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """The state lock: starting, reusing, reaping and stopping an instance never interleave."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def read_state(path: str) -> dict | None:
    try:
        with open(path) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def alive(pid_born: list | tuple | None) -> bool:
    """A recorded (pid, start time) is still that process (a reused pid is not)."""
    return bool(pid_born) and start_time(int(pid_born[0])) == int(pid_born[1])


def live_leases(folder: str, used: str | None = None) -> list[int]:
    """Pids of the drivers using the instance; the lease files of dead ones are removed (and
    ``used`` touched: the instance was in use until then)."""
    pids = []
    try:
        names = os.listdir(folder)
    except OSError:
        return pids
    for name in names:
        pid, _, born = name.partition("-")
        if pid.isdigit() and born.isdigit() and alive((int(pid), int(born))):
            pids.append(int(pid))
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, name))
            if used:
                touch(used)
    return pids


def touch(path: str) -> None:
    with open(path, "a"):
        os.utime(path)


def _processes(token: str, temp_dir: str, spared: set[int]) -> list[tuple[int, int]]:
    needle = f"{ENV}={token}\0".encode()
    place = re.compile(re.escape(temp_dir.rstrip("/").encode()) + rb"(/|\0|$)")
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in spared:
            continue
        born = start_time(int(name))
        if born is not None and _belongs(int(name), needle, place):
            found.append((int(name), born))
    return found


def stop_instance(state: dict, spared: set[int] = frozenset()) -> int:  # type: ignore[assignment]
    """End every process of the instance (SIGTERM, then SIGKILL after a short grace) and remove
    its temp dir; the number of processes ended."""
    spared = set(spared) | {os.getpid()}
    ended = 0
    for _ in range(8):
        procs = _processes(state["token"], state["temp_dir"], spared)
        if not procs:
            break
        ended += len(procs)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid, born in procs:
                if start_time(pid) == born:
                    with contextlib.suppress(OSError):
                        os.kill(pid, sig)
            deadline = time.monotonic() + (_GRACE_SECONDS if sig == signal.SIGTERM else 0.5)
            while time.monotonic() < deadline and any(start_time(p) == b for p, b in procs):
                time.sleep(0.05)
    shutil.rmtree(state["temp_dir"], ignore_errors=True)
    return ended


def forget(paths: dict[str, str], state: dict, spared: set[int] = frozenset()) -> int:  # type: ignore[assignment]
    """Under the lock: remove the state file (no new driver picks the instance), then stop it."""
    for path in (paths["state"], paths["used"]):
        with contextlib.suppress(OSError):
            os.unlink(path)
    shutil.rmtree(paths["leases"], ignore_errors=True)
    pid_born = state.get("reaper")
    if pid_born and int(pid_born[0]) != os.getpid() and alive(pid_born):
        with contextlib.suppress(OSError):
            os.kill(int(pid_born[0]), signal.SIGKILL)  # holds no lock now: we do
    return stop_instance(state, spared)


def paths_of(folder: str, key: str) -> dict[str, str]:
    base = os.path.join(folder, key)
    return {
        "state": base + ".json",
        "lock": base + ".lock",
        "leases": base + ".leases",
        "used": base + ".used",
    }


def idle_for(paths: dict[str, str], state: dict) -> float:
    """Seconds since a driver last let go of the instance (or since it started)."""
    try:
        last = os.stat(paths["used"]).st_mtime
    except OSError:
        last = float(state.get("started_at", 0.0))
    return time.time() - max(last, float(state.get("started_at", 0.0)))


def reap_when_idle(folder: str, key: str, token: str, idle_seconds: float) -> None:
    """The reaper's loop (see the module docstring)."""
    paths = paths_of(folder, key)
    poll = max(0.5, min(5.0, idle_seconds / 4))
    while True:
        time.sleep(poll)
        with locked(paths["lock"]):
            state = read_state(paths["state"])
            if state is None or state.get("token") != token:
                return  # stopped, or replaced by another instance with its own reaper
            heads = state.get("heads") or {}
            drivers = live_leases(paths["leases"], paths["used"])
            if heads and not all(alive(v) for v in heads.values()):
                forget(paths, state, set(drivers))
                return
            if not drivers and idle_for(paths, state) >= idle_seconds:
                forget(paths, state)
                return


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    reap_when_idle(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))
