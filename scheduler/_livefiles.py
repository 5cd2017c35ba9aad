"""Live task output of a run on this machine's own Ray: appended to files the driver tails.

The live-output actor (_logsink) needs a worker process of its own, and every run is a new Ray
job, so that worker starts beside the first task's and doubles what a short run waits for (on
2 cores: 3.0 s instead of 1.3 s before the first task, benchmarks/warm.py). When every worker
runs on this machine (an embedded or the warm local Ray), the workers instead append their lines
to a folder of the driver's: one file per worker process, one JSON line per batch, each batch a
single ``write`` of an O_APPEND file; the driver reads what was added since its last poll. A
task's last batch is written before it returns, so the driver's final poll sees every line.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass


@dataclass(frozen=True)
class FileSink:
    """What the tasks get instead of the actor: the folder to append to."""

    folder: str

    def append(self, run_id: str, label: str, batches: list[tuple[str, list[str]]]) -> None:
        data = "".join(
            json.dumps([run_id, label, stream, lines]) + "\n" for stream, lines in batches
        )
        path = os.path.join(self.folder, f"{os.getpid()}.jsonl")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError:
            return  # the driver is gone (its folder with it): live output is best effort
        try:
            os.write(fd, data.encode("utf-8", "replace"))
        except OSError:
            pass
        finally:
            os.close(fd)


class FileSinkReader:
    """Driver side of ``FileSink``: ``poll()`` returns the lines added since the last one."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.folder = tempfile.mkdtemp(prefix="rayflow-live-")
        self.actor = FileSink(self.folder)  # the name the executor hands to tasks
        self._offsets: dict[str, int] = {}
        self._partial: dict[str, bytes] = {}
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.folder, True)

    def poll(self, final: bool = False) -> list[tuple[str, str, list[str]]]:
        out: list[tuple[str, str, list[str]]] = []
        with contextlib.suppress(OSError):
            for name in sorted(os.listdir(self.folder)):
                out.extend(self._read(name))
        return out

    def close(self) -> None:
        """The run is over: remove the folder (also done when the reader is collected)."""
        self._cleanup()

    def _read(self, name: str) -> list[tuple[str, str, list[str]]]:
        path = os.path.join(self.folder, name)
        try:
            with open(path, "rb") as f:
                f.seek(self._offsets.get(name, 0))
                data = f.read()
        except OSError:
            return []
        self._offsets[name] = self._offsets.get(name, 0) + len(data)
        *complete, rest = (self._partial.pop(name, b"") + data).split(b"\n")
        if rest:
            self._partial[name] = rest
        found = []
        for line in complete:
            try:
                run_id, label, stream, lines = json.loads(line)
            except ValueError:
                continue
            if run_id == self.run_id:
                found.append((label, stream, lines))
        return found


__all__ = ["FileSink", "FileSinkReader"]
