"""Stop the processes of an embedded Ray instance when the driver that started it dies.

Ray ties its head processes (gcs_server, raylet, ...) to the driver with PR_SET_PDEATHSIG, but
the raylet's own children are not covered: measured here, a driver SIGKILLed while Ray was
starting, or while a step ran, left the dashboard agent and the runtime-env agent running for
good. So when rayflow starts a local Ray it also starts this watchdog, in its own session (the
driver's death, or a Ctrl-C in its terminal, does not reach it), standard library only (it is
run by path, not imported through the package).

Which processes are this instance's — and no other Ray instance's on the machine:
- ``ray.init`` runs with ``RAYFLOW_RAY_OWNER=<token>`` in its environment, a token unique to this
  start, which every process Ray spawns inherits (the driver drops it once ``ray.init`` returns);
- but Ray renames its agents and workers (``ray::DashboardAgent``) with setproctitle, which can
  overwrite the environment block /proc shows; so a process also belongs to the instance when
  its command line or one of its open files (every Ray process writes its logs there) lies in
  the instance's session directory. The driver sends that path once ``ray.init`` returns; if it
  died before, the directory is recognised by its name, which ends with the driver's pid, among
  processes started after the driver.

The driver holds the write end of the watchdog's stdin: it sends ``session PATH`` after
``ray.init`` and ``stop`` after ``ray.shutdown``. End of file without ``stop`` (or the driver's
pid gone, checked each second with its start time so a reused pid is not mistaken for it) means
the driver died: the watchdog then ends every process of the instance — SIGTERM, then SIGKILL a
few seconds later — and exits. After ``stop`` it sweeps up stragglers the same way and exits.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from typing import IO

ENV = "RAYFLOW_RAY_OWNER"
_POLL_SECONDS = 1.0
_GRACE_SECONDS = 3.0


def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (field 22 of /proc/PID/stat, clock ticks since boot),
    None once it is gone or a zombie (a SIGKILLed driver is one until its parent reaps it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def program_of(pid: int) -> str | None:
    """The file name of the program ``pid`` runs (``raylet``, ``gcs_server``...), None once gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return os.path.basename(f.read().split(b"\0", 1)[0]).decode()
    except OSError:
        return None


class Watchdog:
    """The driver's handle on its watchdog: ``start()`` before ``ray.init``, ``started()``
    after it, ``stop()`` after ``ray.shutdown``."""

    def __init__(self, proc: subprocess.Popen, token: str) -> None:
        self.proc = proc
        self.token = token
        self.heads: dict[str, tuple[int, int]] = {}

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
                [sys.executable, "-I", os.path.abspath(__file__), str(me), str(born), token],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
                env=env,
            )
        except OSError:
            return None
        return cls(proc, token)

    def _send(self, line: str, close: bool = False) -> None:
        stdin: IO[bytes] | None = self.proc.stdin
        if stdin is None or stdin.closed:
            return
        try:
            stdin.write(line.encode() + b"\n")
            stdin.flush()
            if close:
                stdin.close()
        except (OSError, ValueError):
            pass

    def started(self, session_dir: str | None) -> None:
        """Ray is up: tell the watchdog its session directory; note the raylet and gcs_server.
        A session not named after this process belongs to an instance ``ray.init`` joined
        (one ``ray start`` recorded in the same temp dir): never the watchdog's to end."""
        if session_dir and not session_dir.rstrip("/").endswith(f"_{os.getpid()}"):
            self.stop()
            return
        if session_dir:
            self._send(f"session {session_dir}")
        pattern = session_pattern(session_dir, os.getpid()) if session_dir else None
        for pid, born in owned(self.token, os.getpid(), pattern, 0):
            program = program_of(pid)
            if program in ("raylet", "gcs_server"):
                self.heads[program] = (pid, born)

    def dead_head(self) -> str | None:
        """'raylet exited' (or gcs_server) once one of the noted head processes is gone."""
        for program, (pid, born) in self.heads.items():
            if start_time(pid) != born:
                return f"{program} exited"
        return None

    def stop(self) -> None:
        """Ray was shut down by the driver: the watchdog sweeps up any straggler and exits."""
        self._send("stop", close=True)
        self.proc.poll()


def _belongs(pid: int, token: bytes, session: re.Pattern[bytes]) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            if token in f.read():
                return True
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if session.search(f.read()):
                return True
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if session.search(os.readlink(f"/proc/{pid}/fd/{fd}").encode()):
                return True
        except OSError:
            continue
    return False


def session_pattern(session_dir: str | None, driver: int) -> re.Pattern[bytes]:
    """The instance's session directory; unknown, Ray's name for it: session_<date>_<time>_
    <usec>_<driver pid> (only processes started after the driver are considered)."""
    if session_dir:
        return re.compile(re.escape(session_dir.rstrip("/").encode()) + rb"(/|\0|$)")
    return re.compile(rb"/session_[0-9_-]+_" + str(driver).encode() + rb"(/|\0|$)")


def owned(
    token: str, driver: int, session: re.Pattern[bytes] | None, driver_born: int
) -> list[tuple[int, int]]:
    """(pid, start time) of every live process of the instance (see the module docstring)."""
    session = session or re.compile(rb"(?!)")  # no session known: the token alone
    needle = f"{ENV}={token}\0".encode()
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (me, driver):
            continue
        pid = int(name)
        born = start_time(pid)
        if born is None or born < driver_born:
            continue  # started before the driver: not of this instance
        if _belongs(pid, needle, session):
            found.append((pid, born))
    return found


def _signal_all(procs: list[tuple[int, int]], sig: int) -> None:
    for pid, born in procs:
        if start_time(pid) == born:
            try:
                os.kill(pid, sig)
            except OSError:
                pass


def reap(token: str, driver: int, session: re.Pattern[bytes] | None, driver_born: int) -> int:
    """End every process of the instance: SIGTERM, then SIGKILL what is left after a grace
    period; repeated until none is left (a dying raylet may still have started a worker)."""
    ended = 0
    for _ in range(10):
        procs = owned(token, driver, session, driver_born)
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


def watch(driver: int, born: int, token: str) -> None:
    """Wait for the driver to stop Ray or to die, then reap the instance's processes."""
    stdin = sys.stdin.fileno()
    buffer = b""
    session_dir: str | None = None
    stopped = False
    while not stopped:
        readable, _, _ = select.select([stdin], [], [], _POLL_SECONDS)
        if readable:
            data = os.read(stdin, 4096)
            if not data:
                break  # the driver is gone (end of file without "stop")
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.startswith(b"session "):
                    session_dir = line[len(b"session ") :].decode("utf-8", "replace")
                elif line == b"stop":
                    stopped = True
        if not stopped and start_time(driver) != born:
            break
    if stopped:
        time.sleep(_GRACE_SECONDS)  # ray.shutdown has ended its processes; sweep up after it
        # The driver lives on and may start another instance: only this one's own marks.
        reap(token, driver, session_pattern(session_dir, driver) if session_dir else None, born)
    else:
        reap(token, driver, session_pattern(session_dir, driver), born)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    watch(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
