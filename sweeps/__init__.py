"""rayflow.sweeps: Optuna studies whose trials are flow runs."""

from __future__ import annotations

from ._space import SpaceError, load_space_file, parse_space, parse_spec
from ._sweep import Sweep, SweepError, default_storage

__all__ = [
    "SpaceError",
    "Sweep",
    "SweepError",
    "default_storage",
    "load_space_file",
    "parse_space",
    "parse_spec",
]
