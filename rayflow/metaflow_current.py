"""``rayflow.metaflow_current``: where Metaflow keeps ``current`` (``from metaflow.metaflow_current
import current``), the same singleton as ``rayflow.current``."""

from __future__ import annotations

from ._current import Current, current

__all__ = ["Current", "current"]
