"""Sweep plots as self-contained HTML files (plotly with its JavaScript inlined: opens offline)."""

from __future__ import annotations

import os
from typing import Any


def write_plots(study: Any, folder: str) -> list[str]:
    try:
        import plotly  # noqa: F401
    except ImportError:
        return []
    from optuna import visualization as vis

    os.makedirs(folder, exist_ok=True)
    written = []
    for name, fn in (
        ("optimization_history", vis.plot_optimization_history),
        ("parallel_coordinate", vis.plot_parallel_coordinate),
        ("slice", vis.plot_slice),
    ):
        try:
            fig = fn(study)
        except Exception:  # noqa: BLE001 - some plots need more trials or parameters
            continue
        path = os.path.join(folder, f"{name}.html")
        fig.write_html(path, include_plotlyjs=True, full_html=True)
        written.append(path)
    return written
