"""``@step`` and the user-facing step decorators (``@retry``, ``@catch``, ``@timeout``...).

Decorators only attach an instance holding plain options to the step function; the plan carries
the options and the scheduler acts through the decorator class's hooks. The classes, with their
behaviour, live in ``rayflow.scheduler.decorators`` (the scheduler may not import this API
module); here each becomes ``@name``, working bare (``@retry``) or called (``@retry(times=2)``),
above or below ``@step``.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from typing import Any

from rayflow.scheduler.decorators import (
    REGISTRY,
    CacheDecorator,
    CatchDecorator,
    ConcurrencyDecorator,
    EnvironmentDecorator,
    ResourcesDecorator,
    RetryDecorator,
    SecretsDecorator,
    StepDecorator,
    TimeoutDecorator,
)

from ._configs import ConfigExpr
from ._configuse import deferred, later
from ._errors import RayflowError
from .cards._decorator import CardDecorator

_ATTR = "_rf_decorators"


def step(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a FlowSpec method as a step."""
    func.is_step = True  # type: ignore[attr-defined]
    func.name = func.__name__  # type: ignore[attr-defined]  # Metaflow's steps carry .name
    if not hasattr(func, _ATTR):
        setattr(func, _ATTR, [])
    return func


class IgnoredDecorator(StepDecorator):
    """Metaflow decorators for other platforms (``@kubernetes``, ``@card``...): accepted, noted."""

    ignored = True  # not registered: no hooks, and not offered by ``--with``

    def __init__(self, **attributes: Any) -> None:
        self.attributes = dict(attributes)


def make_decorator(cls: type[StepDecorator]) -> Callable[..., Any]:
    """The user-facing ``@name`` / ``@name(option=...)`` of a decorator class."""

    def decorator(func: Callable[..., Any] | None = None, **attributes: Any) -> Any:
        def apply(f: Callable[..., Any]) -> Callable[..., Any]:
            if not callable(f):
                raise RayflowError(f"@{cls.name} must decorate a step method")
            decos = list(getattr(f, _ATTR, []))
            if any(d.name == cls.name for d in decos):
                raise RayflowError(f"step '{f.__name__}' has @{cls.name} twice")
            decos.append(cls(**attributes) if not deferred(attributes) else later(cls, attributes))
            setattr(f, _ATTR, decos)
            return f

        if func is not None and callable(func):
            return apply(func)
        return apply

    functools.update_wrapper(decorator, cls, assigned=("__doc__",), updated=())
    decorator.__name__ = cls.name
    return decorator


retry = make_decorator(RetryDecorator)
catch = make_decorator(CatchDecorator)
timeout = make_decorator(TimeoutDecorator)
resources = make_decorator(ResourcesDecorator)
environment = make_decorator(EnvironmentDecorator)
cache = make_decorator(CacheDecorator)
concurrency = make_decorator(ConcurrencyDecorator)
secrets = make_decorator(SecretsDecorator)

DECORATORS = REGISTRY  # every registered class, a flow's own ones included


def _warn(text: str) -> None:
    """Warn at the user's line (the first frame outside this module), however it was called."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    warnings.warn(text, stacklevel=level)


def _ignored(name: str) -> Callable[..., Any]:
    cls = type(f"{name.title()}Decorator", (IgnoredDecorator,), {"name": name})
    IGNORED[name] = cls

    def decorator(func: Any = None, **attributes: Any) -> Any:
        def apply(f: Any) -> Any:
            _warn(
                f"@{name} has no effect on rayflow; step '{getattr(f, '__name__', f)}' runs on Ray"
            )
            decos = list(getattr(f, _ATTR, []))
            decos.append(cls(**attributes))
            setattr(f, _ATTR, decos)
            return f

        if func is not None and callable(func):
            return apply(func)
        return apply

    decorator.__name__ = name
    return decorator


IGNORED: dict[str, type[StepDecorator]] = {}


def card(func: Callable[..., Any] | None = None, **attributes: Any) -> Any:
    """Metaflow's ``@card(type=, id=, options=, timeout=, save_errors=)``: render an HTML card
    of the task once its step has ended (``rayflow.cards``). A step may have several."""

    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(f):
            raise RayflowError("@card must decorate a step method")
        decos = list(getattr(f, _ATTR, []))
        new = CardDecorator(**attributes)
        for i, d in enumerate(decos):
            if isinstance(d, CardDecorator):  # decorators apply bottom-up: the upper card first
                decos[i] = new.joined(d)
                break
        else:
            decos.append(new)
        setattr(f, _ATTR, decos)
        return f

    if func is not None and callable(func):
        return apply(func)
    return apply


kubernetes = _ignored("kubernetes")
batch = _ignored("batch")
conda = _ignored("conda")
pypi = _ignored("pypi")


def _flow_ignored(name: str) -> Callable[..., Any]:
    """Flow-level decorators of Metaflow's schedulers and environments: accepted, with a warning."""

    def decorator(cls: Any = None, **attributes: Any) -> Any:
        def apply(c: Any) -> Any:
            _warn(
                f"@{name} has no effect on rayflow; flow '{getattr(c, '__name__', c)}' runs on Ray"
            )
            return c

        if cls is not None and isinstance(cls, type):
            return apply(cls)
        return apply

    decorator.__name__ = name
    return decorator


def project(cls: Any = None, *, name: str | None = None, **attributes: Any) -> Any:
    """Metaflow's ``@project(name=...)``: runs get ``current.project_name``, ``branch_name``
    (``user.<username>``, Metaflow's default branch) and the tags ``project:NAME`` and
    ``project_branch:BRANCH``. As in Metaflow, ``METAFLOW_BRANCH=X`` (set when the flow is
    defined) makes the branch ``test.X``, and ``METAFLOW_PRODUCTION`` makes it ``prod`` (or
    ``prod.X``) with ``current.is_production`` true."""

    def apply(c: Any) -> Any:
        import os

        if isinstance(name, ConfigExpr):  # read when the configs are (rayflow._configuse)
            c._rf_deferred = {**(getattr(c, "_rf_deferred", None) or {}), "_rf_project": name}
        elif not name or not isinstance(name, str):
            raise RayflowError(f"@project on flow '{c.__name__}' needs name='...'")
        c._rf_project = name if isinstance(name, str) else None
        branch = os.environ.get("METAFLOW_BRANCH") or None
        production = os.environ.get("METAFLOW_PRODUCTION", "").lower() in ("1", "true", "yes")
        if production:
            c._rf_project_branch = f"prod.{branch}" if branch else "prod"
        elif branch:
            c._rf_project_branch = f"test.{branch}"
        c._rf_project_production = production
        return c

    if cls is not None and isinstance(cls, type):
        return apply(cls)
    return apply


schedule = _flow_ignored("schedule")
conda_base = _flow_ignored("conda_base")
pypi_base = _flow_ignored("pypi_base")
trigger = _flow_ignored("trigger")
trigger_on_finish = _flow_ignored("trigger_on_finish")


def step_decorators(func: Callable[..., Any]) -> list[StepDecorator]:
    return list(getattr(func, _ATTR, []))


def parse_with(spec: str) -> StepDecorator:
    """Parse ``--with retry`` / ``--with retry:times=2,minutes_between_retries=0``."""
    name, _, rest = spec.partition(":")
    cls = DECORATORS.get(name.strip())
    if cls is None and name.strip() in IGNORED:
        # Metaflow's platform decorators (``--with card``, ``--with kubernetes``): accepted, noted.
        print(
            f"rayflow: note: --with {name.strip()} has no effect on rayflow; every step runs on Ray",
            file=sys.stderr,
        )
        cls = IGNORED[name.strip()]
    if cls is None:
        known = ", ".join([*DECORATORS, *IGNORED])
        raise RayflowError(f"--with {spec}: unknown decorator '{name}' (known: {known})")
    attrs: dict[str, Any] = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq:
            raise RayflowError(f"--with {spec}: expected name=value, got {part!r}")
        attrs[key.strip()] = _literal(value.strip())
    return cls(**attrs)


def _literal(text: str) -> Any:
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
