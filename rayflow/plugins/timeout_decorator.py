"""``rayflow.plugins.timeout_decorator``: Metaflow's path of ``TimeoutException``, raised in a step
that runs past its ``@timeout``."""

from __future__ import annotations

from rayflow.scheduler._errors import TimeoutException

__all__ = ["TimeoutException"]
