"""``@concurrency(max=N)``: at most N tasks of the step run at once, whatever the cluster's size.

For a step that calls a rate-limited API or holds a database connection, while the other steps
use every CPU. The driver holds back the step's further tasks until one of its running tasks
ends (a held task is not submitted to Ray, so it takes no worker while it waits).
"""

from __future__ import annotations

from typing import Any, ClassVar

from .._errors import DecoratorError
from ._base import StepDecorator


class ConcurrencyDecorator(StepDecorator):
    name = "concurrency"
    defaults: ClassVar[dict[str, Any]] = {"max": None}
    cache_relevant = False  # how many run at once does not change what each computes

    def __init__(self, **attributes: Any) -> None:
        super().__init__(**attributes)
        limit = self.attributes["max"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise DecoratorError(
                f"@concurrency needs max=N, a whole number of at least 1 (got {limit!r})"
            )

    @classmethod
    def max_running(cls, attrs: dict[str, Any]) -> int | None:
        limit = attrs.get("max")
        return int(limit) if limit else None
