"""``@cache``: reuse an earlier successful task with the same inputs, code and parameters.

``expire_after`` (a timedelta or seconds) bounds an entry's age; ``key`` is a callable
``key(flow) -> str`` for a user-defined key (the step's inputs are readable on ``flow``). The
plan records only whether there is a key; the callable stays on the step function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from .._errors import DecoratorError
from ._base import StepDecorator

_ATTR = "_rf_decorators"


class CacheDecorator(StepDecorator):
    name = "cache"
    defaults: ClassVar[dict[str, Any]] = {"expire_after": None, "key": None}
    cache_relevant = False

    def __init__(self, **attributes: Any) -> None:
        super().__init__(**attributes)
        expire = self.attributes.get("expire_after")
        if expire is not None and hasattr(expire, "total_seconds"):
            expire = expire.total_seconds()
        self.key_fn = self.attributes.get("key")
        if self.key_fn is not None and not callable(self.key_fn):
            raise DecoratorError("@cache(key=...) must be a callable taking the flow")
        self.attributes = {
            "expire_after": None if expire is None else float(expire),
            "key": self.key_fn is not None,
        }

    @classmethod
    def cache_policy(cls, attrs: dict[str, Any]) -> dict[str, Any]:
        expire = attrs.get("expire_after")
        return {
            "expire_after": None if expire is None else float(expire),
            "user_key": bool(attrs.get("key")),
        }

    @classmethod
    def key_function(cls, func: Any) -> Callable[[Any], Any] | None:
        """The ``key=`` callable given to ``@cache`` on this step function, if any."""
        deco = next((d for d in getattr(func, _ATTR, []) if isinstance(d, cls)), None)
        return deco.key_fn if deco is not None else None
