"""The dashboard's routes, one module per idea; each module has ``routes(ui) -> list[Route]``
(``ui``: the app's ``_shared.Ui``).

Adding a page is one new module and its name in ``MODULES`` (relative to ``rayflow.ui``).
"""

from __future__ import annotations

import importlib
from typing import Any

MODULES = (
    "routes._flows",
    "routes._runs",
    "routes._changes",
    "routes._tasks",
    "routes._sweeps",
    "_cards",
)


def all_routes(ui: Any) -> list[Any]:
    out: list[Any] = []
    for name in MODULES:
        out += importlib.import_module(f"rayflow.ui.{name}").routes(ui)
    return out
