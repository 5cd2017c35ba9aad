"""The dashboard's routes, one module per idea; each module has ``routes(ui) -> list[Route]``.

Adding a page is one new module here and its name in ``MODULES``.
"""

from __future__ import annotations

import importlib
from typing import Any

MODULES = ("_flows", "_runs", "_changes", "_tasks", "_sweeps")


def all_routes(ui: Any) -> list[Any]:
    out: list[Any] = []
    for name in MODULES:
        out += importlib.import_module(f"{__name__}.{name}").routes(ui)
    return out
