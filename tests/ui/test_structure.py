"""The dashboard's code stays in small pieces: no function of 80 lines or more, and every route
comes from one module of ``rayflow.ui.routes`` named in ``MODULES``."""

from __future__ import annotations

import ast
import os

import pytest

UI = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "rayflow", "ui"
)


def python_files() -> list[str]:
    return sorted(
        os.path.join(d, f) for d, _, files in os.walk(UI) for f in files if f.endswith(".py")
    )


def test_no_ui_function_is_80_lines_or_longer():
    long = []
    for path in python_files():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines >= 80:
                    long.append(
                        f"{os.path.relpath(path, UI)}:{node.lineno} {node.name} ({lines} lines)"
                    )
    assert not long, long


def test_every_route_module_is_registered_by_its_name_alone(tmp_path):
    pytest.importorskip("starlette")
    from rayflow.ui import routes
    from rayflow.ui._shared import Ui

    on_disk = {
        f"routes.{f[:-3]}"
        for f in os.listdir(os.path.dirname(routes.__file__))
        if f.startswith("_") and f.endswith(".py") and f != "__init__.py"
    }
    assert on_disk <= set(routes.MODULES)
    paths = [r.path for r in routes.all_routes(Ui(str(tmp_path)))]
    assert len(paths) == len(set(paths))
    assert {
        "/",
        "/flows/{flow}",
        "/runs/{flow}/{run_id}",
        "/api/runs/{flow}/{run_id}/changes",
        "/runs/{flow}/{run_id}/{step}/{task_id}",
        "/sweeps",
    } <= set(paths)
