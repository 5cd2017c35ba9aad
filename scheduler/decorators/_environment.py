"""``@environment(vars={...})``: environment variables set while the step runs, then restored."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any, ClassVar

from ._base import StepDecorator, TaskInfo


class EnvironmentDecorator(StepDecorator):
    name = "environment"
    defaults: ClassVar[dict[str, Any]] = {"vars": {}}

    @classmethod
    def wraps_step(
        cls, attrs: dict[str, Any], task: TaskInfo
    ) -> contextlib.AbstractContextManager[Any]:
        return _variables(attrs.get("vars") or {})


@contextlib.contextmanager
def _variables(env: dict[str, Any]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
