"""Is a run that says ``running`` really running? Its driver's heartbeat decides.

run.json is written by the run's driver when the run starts (``running``) and again when it ends.
A driver that is SIGKILLed, or whose machine dies, never writes the second record, so run.json
alone would say ``running`` for ever. While it runs, the driver therefore rewrites one small file
(``paths.heartbeat_file``) every ``interval`` seconds; a reader treats a ``running`` run whose
latest sign of life is older than the staleness limit as ``crashed``.

``effective_status`` is the one place that decides; every reader (client, CLI, UI, sweeps) gets
a run's status through it (``records.with_effective_status``). The stored record is never
changed by a reader: a driver that was only paused and comes back still writes its real end.

Settings (environment variables):
- ``RAYFLOW_HEARTBEAT_SECONDS``: the driver's interval (default 10 s); recorded in the run record
  and in each heartbeat so that readers judge a run by its own driver's interval.
- ``RAYFLOW_HEARTBEAT_STALE_SECONDS``: the reader's limit (default: 6 intervals, so 60 s by
  default); never below 2 of the run's intervals, so a live run is not called crashed between
  two beats. Clocks of the driver and the reader are compared: they should agree within the limit.
"""

from __future__ import annotations

import time
from typing import Any

from . import _settings as settings

INTERVAL_ENV = settings.HEARTBEAT_SECONDS
STALE_ENV = settings.HEARTBEAT_STALE_SECONDS
DEFAULT_INTERVAL = 10.0
STALE_INTERVALS = 6
CRASHED = "crashed"


def heartbeat_interval() -> float:
    """Seconds between two heartbeats of a driver (``RAYFLOW_HEARTBEAT_SECONDS``, default 10)."""
    return settings.heartbeat_seconds() or DEFAULT_INTERVAL


def stale_after(interval: float | None = None) -> float:
    """How old a run's latest sign of life may be before the run reads as crashed."""
    beat = float(interval) if interval and interval > 0 else DEFAULT_INTERVAL
    chosen = settings.heartbeat_stale_seconds()
    return max(chosen if chosen is not None else STALE_INTERVALS * beat, 2 * beat)


def last_sign_of_life(record: dict[str, Any], heartbeat: dict[str, Any] | None) -> float | None:
    """The newest of the heartbeat's time and the run's creation (the grace before a first beat)."""
    times = [
        t
        for t in ((heartbeat or {}).get("at"), record.get("created_at"))
        if isinstance(t, (int, float))
    ]
    return max(times) if times else None


def effective_status(
    record: dict[str, Any], heartbeat: dict[str, Any] | None, now: float | None = None
) -> str:
    """The run's status as readers must show it.

    A finished run keeps its recorded status. A ``running`` run is ``crashed`` when its latest
    sign of life (heartbeat, else its creation) is older than ``stale_after`` of its interval.
    """
    status = str(record.get("status", "unknown"))
    if status != "running":
        return status
    interval = (heartbeat or {}).get("interval") or record.get("heartbeat_interval")
    seen = last_sign_of_life(record, heartbeat)
    if seen is None:
        return status
    now = time.time() if now is None else now
    return CRASHED if now - seen > stale_after(interval) else status
