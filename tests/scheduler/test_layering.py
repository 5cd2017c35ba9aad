"""The dependency direction (API -> scheduler -> datastore) and one home for configuration,
checked on the source: a violation is one line naming the file and line."""

from __future__ import annotations

import ast
import os
import re

import pytest

from rayflow.datastore import DatastoreError, UserFacingError
from rayflow.scheduler import ClusterError, DecoratorError, SchedulerError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _sources(*folders: str):
    for folder in folders:
        for root, _, files in os.walk(os.path.join(REPO, folder)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    with open(path) as f:
                        yield os.path.relpath(path, REPO), ast.parse(f.read())


def _imported(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


@pytest.mark.parametrize(
    "folder, allowed",
    [
        ("scheduler", ("rayflow.scheduler", "rayflow.datastore")),
        ("datastore", ("rayflow.datastore",)),
    ],
)
def test_lower_layers_import_nothing_of_the_layers_above(folder, allowed):
    wrong = [
        f"{path}:{line}: imports {module}"
        for path, tree in _sources(folder)
        for line, module in _imported(tree)
        if module.split(".")[0] == "rayflow" and not module.startswith(allowed)
    ]
    assert wrong == []


def test_rayflow_variables_are_read_only_in_the_settings_module():
    readers = []
    for path, tree in _sources("rayflow", "scheduler", "datastore", "sweeps"):
        if path == os.path.join("datastore", "_settings.py"):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"RAYFLOW_[A-Z_]+", node.value)
            ):
                readers.append(f"{path}:{node.lineno}: {node.value}")
    # click reads these two itself, as the envvar of a CLI flag; RAYFLOW_RAY_OWNER is no setting
    # but the mark the watchdog puts on the processes of the Ray instance it guards
    exempt = ("RAYFLOW_SHARED_DATASTORE", "RAYFLOW_UI_TOKEN", "RAYFLOW_RAY_OWNER")
    assert [r for r in readers if not r.endswith(exempt)] == []


def test_scheduler_errors_are_user_errors_but_not_datastore_errors():
    for cls in (SchedulerError, ClusterError, DecoratorError):
        assert issubclass(cls, UserFacingError) and not issubclass(cls, DatastoreError)
    assert issubclass(DatastoreError, UserFacingError)


def test_the_driver_loop_and_planner_know_nothing_of_ray():
    # Ray is one executor (_executor.py) behind the interface the loop talks to (_executor_api.py)
    loop = {
        os.path.join("scheduler", name)
        for name in ("_driver.py", "_planner.py", "_executor_api.py", "_inprocess.py", "_result.py")
    }
    wrong = [
        f"{path}:{line}: imports {module}"
        for path, tree in _sources("scheduler")
        if path in loop
        for line, module in _imported(tree)
        if module.split(".")[0] == "ray"
    ]
    assert wrong == []
