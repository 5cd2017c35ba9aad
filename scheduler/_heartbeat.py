"""The driver's heartbeat: proof, in the datastore, that a ``running`` run's driver is alive.

A daemon thread rewrites one small file (``heartbeat.json``) every interval while the run runs —
one write per interval, however many tasks run — and is stopped when run_flow ends the run. A
driver that is killed simply stops writing; readers then show the run as ``crashed``
(``rayflow.datastore._liveness``). A failed write is retried at the next beat: a few missed
beats in a row are tolerated by the staleness limit.
"""

from __future__ import annotations

import os
import socket
import threading
import time

from rayflow.datastore import Storage, heartbeat_interval, records


class Heartbeat:
    def __init__(
        self, storage: Storage, flow: str, run_id: str, interval: float | None = None
    ) -> None:
        self.storage = storage
        self.flow = flow
        self.run_id = run_id
        self.interval = interval or heartbeat_interval()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Write one heartbeat now (errors are left to the next beat)."""
        beat = {
            "at": time.time(),
            "interval": self.interval,
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        try:
            records.write_heartbeat(self.storage, self.flow, self.run_id, beat)
        except Exception:  # noqa: BLE001 - a full disk or a flaky store must not stop the run
            pass

    def start(self) -> Heartbeat:
        """Beat at once, then every interval, from a daemon thread: the run's start never waits
        for a write (until the first beat lands, readers count from the run's creation)."""
        self._thread = threading.Thread(
            target=self._loop, name=f"rayflow-heartbeat-{self.run_id}", daemon=True
        )
        self._thread.start()
        return self

    def _loop(self) -> None:
        self.beat()
        while not self._stop.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        """No more beats. A beat still being written may land after the run's end is recorded:
        harmless, since only a ``running`` record is judged by its heartbeat."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1)
