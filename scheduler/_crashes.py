"""What a worker process that dies in a step leaves behind, and how the driver says it.

Ray reports every death of a worker the same way (``WorkerCrashedError``) and prints a raylet
paragraph about OOM killers and ``ray stop --force``; it knows neither the exit code nor the
signal. So the worker leaves its own last words:

- ``os._exit(n)`` called by the step (or a thread of it): the task's records are written (its
  output so far, and "the worker process exited with code n" as its error) before the process
  ends, as the @timeout watchdog does.
- a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGABRT, SIGILL): Python's faulthandler writes the
  step's traceback to a file named after the task in the node's Ray session folder; the driver
  reads it (when it runs on that node, always for a local run), names the signal and keeps the
  traceback as the task's stderr.
- SIGKILL (the kernel's OOM killer, a human) leaves nothing: the message says so.

The raylet paragraph is left out of the console: rayflow's one line replaces it.
"""

from __future__ import annotations

import atexit
import faulthandler
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

_FATAL = {
    "Segmentation fault": signal.SIGSEGV,
    "Bus error": signal.SIGBUS,
    "Floating-point exception": signal.SIGFPE,
    "Floating point exception": signal.SIGFPE,
    "Aborted": signal.SIGABRT,
    "Illegal instruction": signal.SIGILL,
}
_FATAL_LINE = re.compile(r"Fatal Python error: (.+)")


def fault_dir() -> str:
    """The node's folder for fault files (in Ray's session folder, shared by the driver and the
    workers of one node); empty when Ray has no node here."""
    if "ray" not in sys.modules:
        return ""  # no Ray in this process (a task body run in the caller's): no node to ask
    from ._ray_private import session_dir

    folder = session_dir()
    return os.path.join(folder, "rayflow-faults") if folder else ""


def fault_file(folder: str, flow: str, run_id: str, step: str, task_id: str, attempt: int) -> str:
    return os.path.join(folder, f"{flow}.{run_id}.{step}.{task_id}.{attempt}")


# -- worker side ---------------------------------------------------------------------------------
class _Worker:
    """This process's fault file and ``os._exit`` hook, set up by the first task."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.folder = fault_dir()
        self.path = ""
        self.last_words: Callable[[int], None] | None = None
        if self.folder:
            os.makedirs(self.folder, exist_ok=True)
            self.path = os.path.join(self.folder, f"idle-{self.pid}")
            self.file = open(self.path, "w")  # noqa: SIM115 - open for the life of the process
            faulthandler.enable(file=self.file, all_threads=False)
            atexit.register(self._forget)
        real_exit = os._exit

        def _exit(code: int) -> None:
            words, self.last_words = self.last_words, None
            if words is not None and os.getpid() == self.pid:
                try:
                    words(code)
                except BaseException:  # noqa: BLE001 - the process ends either way
                    pass
            real_exit(code)

        os._exit = _exit

    def name_after(self, path: str) -> None:
        if self.path and os.fstat(self.file.fileno()).st_size:
            # a forked child of an earlier step crashed and wrote here: not this task's words
            os.ftruncate(self.file.fileno(), 0)
            os.lseek(self.file.fileno(), 0, os.SEEK_SET)
        if self.path and path != self.path:
            try:
                os.rename(self.path, path)
                self.path = path
            except OSError:
                pass

    def _forget(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass


_WORKER: list[_Worker] = []
_LOCK = threading.Lock()


def arm(
    ctx: dict,
    step: str,
    task_id: str,
    attempt: int,
    last_words: Callable[[int], None],
    capture: Any = None,
) -> None:
    """Before a step runs: a fatal signal leaves the traceback in this task's fault file, the
    step's output is spooled beside it as it comes (``capture.spool_to``), and ``os._exit``
    calls ``last_words(code)`` first."""
    with _LOCK:
        if not _WORKER:
            _WORKER.append(_Worker())
    worker = _WORKER[0]
    if worker.folder:
        path = fault_file(worker.folder, ctx["flow"], ctx["run_id"], step, task_id, attempt)
        worker.name_after(path)
        if capture is not None:
            capture.spool_to(path)
    worker.last_words = last_words


def disarm() -> None:
    if _WORKER:
        _WORKER[0].last_words = None


def exit_location(internal: tuple[str, ...]) -> str:
    """``file:line: `` of the user's frame that called ``os._exit`` (empty when none is)."""
    frames = [
        f for f in traceback.extract_stack() if not os.path.abspath(f.filename).startswith(internal)
    ]
    return f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""


# -- driver side ---------------------------------------------------------------------------------
def collect(
    folder: str, flow: str, run_id: str, step: str, task_id: str, attempt: int
) -> str | None:
    """The fault file's text for that attempt (removed once read); None when there is no such
    file here (the worker ran on another node)."""
    if not folder:
        return None
    path = fault_file(folder, flow, run_id, step, task_id, attempt)
    try:
        with open(path, errors="replace") as f:
            text = f.read()
        os.unlink(path)
    except OSError:
        return None
    return text


def collect_output(
    folder: str,
    flow: str,
    run_id: str,
    step: str,
    task_id: str,
    attempt: int,
    fault_text: str | None,
) -> dict[str, str]:
    """The logs of an attempt whose worker died, to store: what the step printed before (its
    spool files, removed once read), then on stderr the fault's traceback and a line naming the
    signal. Empty when nothing is known here (another node; an ``os._exit`` whose worker
    stored its own logs and removed its spool)."""
    if not folder:
        return {}
    base = fault_file(folder, flow, run_id, step, task_id, attempt)
    logs: dict[str, str] = {}
    for stream in ("stdout", "stderr"):
        try:
            with open(f"{base}.{stream}", errors="replace") as f:
                logs[stream] = f.read()
            os.unlink(f"{base}.{stream}")
        except OSError:
            pass
    if fault_text and fault_text.strip():
        said = logs.get("stderr", "")
        found = _FATAL_LINE.search(fault_text)
        tail = ""
        if found:
            what = found.group(1).strip()
            sig = _FATAL.get(what)
            tail = f"\nTask failed: the worker process was killed by {sig.name if sig else what} ({what.lower()}).\n"
        logs["stderr"] = (
            said + ("" if not said or said.endswith("\n") else "\n") + fault_text + tail
        )
    return {k: v for k, v in logs.items() if v}


def describe(fault_text: str | None) -> str:
    """One line on how the worker died, from what its fault file holds."""
    if fault_text is None:
        return (
            "the worker process running the task died (on another node, or before rayflow "
            "could watch it: see that node's Ray worker logs)"
        )
    found = _FATAL_LINE.search(fault_text)
    if found:
        what = found.group(1).strip()
        sig = _FATAL.get(what)
        name = sig.name if sig is not None else what
        return f"the worker process was killed by {name} ({what}); its traceback is in the task's stderr"
    return (
        "the worker process died without a word (killed by SIGKILL, e.g. by the kernel's "
        "OOM killer, or it exited from C code)"
    )


_QUIET = "A worker died or was killed"
_RAYLET_GONE = "Raylet is terminated"  # the driver says it in one line (scheduler._run)


def quiet_worker_deaths() -> None:
    """Keep Ray's raylet paragraph about a dead worker off the console (the driver says it in
    one line). Other messages of Ray's error channel are printed as before."""
    from ._ray_private import filter_error_channel

    filter_error_channel(_raylet_paragraph)


def _raylet_paragraph(data: dict[str, Any]) -> bool:
    lines = data.get("lines") or []
    return data.get("pid") == "raylet" and any(
        _QUIET in str(line) or _RAYLET_GONE in str(line) for line in lines
    )
