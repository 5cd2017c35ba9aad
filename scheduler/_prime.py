"""A no-op task sent as soon as a run connects to a warm Ray.

Each run is a Ray job of its own, whose first task waits for a new worker process to start and
import rayflow's task code. Sent at once, that start overlaps with the driver recording the run;
the driver waits for it (``settle``) before its first task, so that task finds the worker idle
instead of asking Ray for a second one (tasks of another function get their own worker lease).
"""

from __future__ import annotations

from typing import Any

import ray

_pending: list[Any] = []


@ray.remote(num_cpus=1, max_retries=0)
def _prime() -> None:
    from . import _executor  # noqa: F401 - what every task of the run unpickles into


def prime_worker() -> None:
    """Start one worker of this job now (fire and forget)."""
    try:
        _pending.append(_prime.remote())
    except Exception:  # noqa: BLE001 - only an optimisation
        pass


def settle(timeout: float = 10.0) -> None:
    """Wait (up to ``timeout``) until the primed worker is ready."""
    refs, _pending[:] = list(_pending), []
    if refs:
        try:
            ray.wait(refs, num_returns=len(refs), timeout=timeout)
        except Exception:  # noqa: BLE001 - only an optimisation
            pass
