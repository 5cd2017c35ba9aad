"""``rayflow.plugins.catch_decorator``: Metaflow's path of ``FailureHandledByCatch``, what
``@catch`` stores when the step's worker died with no exception of its own to store."""

from __future__ import annotations

from rayflow.scheduler._errors import FailureHandledByCatch

__all__ = ["FailureHandledByCatch"]
