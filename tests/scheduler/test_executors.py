"""Every executor the driver loop can be given has the interface's methods, with its parameters."""

from __future__ import annotations

import inspect

import pytest

from rayflow.scheduler._executor import RayExecutor
from rayflow.scheduler._executor_api import Executor
from rayflow.scheduler._inprocess import InProcessExecutor

METHODS = ("start", "submit", "wait", "result", "cancel", "stop")


@pytest.mark.parametrize("cls", [RayExecutor, InProcessExecutor])
@pytest.mark.parametrize("name", METHODS)
def test_an_executor_has_each_method_of_the_interface_with_its_parameters(cls, name):
    def shape(fn):
        # positional ones by count (an executor names its handles: refs, ids...), the rest by name
        params = list(inspect.signature(fn).parameters.values())
        return (len(params), [(p.name, p.default) for p in params if p.default is not p.empty])

    assert shape(getattr(cls, name)) == shape(getattr(Executor, name))
