"""Stop the processes of an embedded Ray instance when the driver that started it dies.

Ray ties its head processes (gcs_server, raylet, ...) to the driver with PR_SET_PDEATHSIG, but
the raylet's own children are not covered: measured here, a driver SIGKILLed while Ray was
starting left the dashboard agent and the runtime-env agent running for good, and a step's own
subprocesses can outlive their worker too. So when rayflow starts a local Ray it also starts
this watchdog, in its own session (the driver's death or its terminal's Ctrl-C do not reach
it), with only the standard library (it is run by path, not as part of the package).

Which processes are this instance's: ``ray.init`` runs with ``RAYFLOW_RAY_OWNER=<token>`` in
its environment, a token unique to this start; every process Ray spawns (head processes, agents,
workers, and what a step starts) inherits it, and nothing else has it — the variable is removed
from the driver's environment once ``ray.init`` returns. Other Ray instances on the machine,
including other rayflow runs, carry other tokens or none, and are never touched.

The driver holds the write end of the watchdog's stdin. It writes one byte when it shut Ray down
itself; end-of-file without that byte (or the driver's pid gone, checked each second along with
its start time, so a reused pid is not mistaken for it) means the driver died. Either way the
watchdog then ends every process carrying the token — SIGTERM, then SIGKILL a few seconds later
— and exits.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import uuid
from typing import IO

ENV = "RAYFLOW_RAY_OWNER"
_STOP = b"x"
_POLL_SECONDS = 1.0
_GRACE_SECONDS = 3.0


def start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (field 22 of /proc/PID/stat), None once it is gone
    or a zombie (a SIGKILLed driver stays a zombie until its parent reaps it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return fields[19]


class Watchdog:
    """The driver's handle on its watchdog: ``start()`` before ``ray.init``, ``stop()`` after
    ``ray.shutdown``."""

    def __init__(self, proc: subprocess.Popen, token: str) -> None:
        self.proc = proc
        self.token = token

    @classmethod
    def start(cls) -> Watchdog | None:
        """Start the watchdog of a Ray instance about to be started; None where /proc is not
        available (then Ray's own fate-sharing is all there is)."""
        me = os.getpid()
        born = start_time(me)
        if born is None:
            return None
        token = f"{me}-{uuid.uuid4().hex[:12]}"
        env = {k: v for k, v in os.environ.items() if k != ENV}
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", os.path.abspath(__file__), str(me), born, token],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, close_fds=True, env=env)
        except OSError:
            return None
        return cls(proc, token)

    def stop(self) -> None:
        """Ray was shut down by the driver: the watchdog sweeps up any straggler and exits."""
        stdin: IO[bytes] | None = self.proc.stdin
        if stdin is None:
            return
        try:
            stdin.write(_STOP)
            stdin.close()
        except (OSError, ValueError):
            pass
        self.proc.poll()


def owned(token: str, me: int) -> list[tuple[int, str]]:
    """(pid, start time) of every live process whose environment carries the token."""
    needle = f"{ENV}={token}\0".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if needle in environ:
            born = start_time(int(name))
            if born is not None:
                found.append((int(name), born))
    return found


def _signal_all(procs: list[tuple[int, str]], sig: int) -> None:
    for pid, born in procs:
        if start_time(pid) == born:
            try:
                os.kill(pid, sig)
            except OSError:
                pass


def reap(token: str) -> int:
    """End every process of the instance: SIGTERM, then SIGKILL what is left after a grace
    period; repeated until none is left (a dying raylet may still have started a worker)."""
    me = os.getpid()
    ended = 0
    for _ in range(10):
        procs = owned(token, me)
        if not procs:
            break
        ended += len(procs)
        _signal_all(procs, signal.SIGTERM)
        deadline = time.monotonic() + _GRACE_SECONDS
        while time.monotonic() < deadline and any(start_time(p) == b for p, b in procs):
            time.sleep(0.1)
        _signal_all(procs, signal.SIGKILL)
        time.sleep(0.2)
    return ended


def watch(driver: int, born: str, token: str) -> None:
    """Wait for the driver to stop Ray or to die, then reap the instance's processes."""
    stdin = sys.stdin.fileno()
    while True:
        readable, _, _ = select.select([stdin], [], [], _POLL_SECONDS)
        if readable:
            data = os.read(stdin, 1)
            if data == _STOP:
                time.sleep(_GRACE_SECONDS)  # ray.shutdown has ended its processes; sweep later
                break
            if not data:
                break  # the driver is gone (end of file without the stop byte)
        if start_time(driver) != born:
            break
    reap(token)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    watch(int(sys.argv[1]), sys.argv[2], sys.argv[3])
