"""Flow parameters: class attributes that become CLI options and read-only values in steps."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from ._configs import ConfigExpr, ConfigValue
from ._configuse import active_namespace
from ._errors import ParameterError


class JSONType:
    """Parameter type whose value is parsed from JSON (``type=JSONType``)."""

    name = "JSON"

    @staticmethod
    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return json.loads(value)


class ParameterContext(NamedTuple):
    """What a function default of a Parameter is called with (Metaflow's names)."""

    flow_name: str | None
    user_name: str
    parameter_name: str
    logger: Any
    ds_type: str
    configs: Any


@contextmanager
def _project_current(flow_cls: type | None) -> Iterator[None]:
    """While a default function runs outside any step, ``current`` has the flow's @project
    fields (``current.project_name``...), as Metaflow's default functions see them."""
    from ._current import current

    if flow_cls is None or current.is_running_flow or not getattr(flow_cls, "_rf_project", None):
        yield
        return
    from rayflow.scheduler._identity import username
    from rayflow.scheduler._task import _project_fields

    current._set(
        {"flow_name": flow_cls.__name__, **_project_fields(flow_cls, flow_cls.__name__, username())}
    )
    try:
        yield
    finally:
        current._clear()


class Parameter:
    """``alpha = Parameter('alpha', default=0.1, type=float, help=..., required=False)``.

    A data descriptor: in a running step ``self.alpha`` is the run's value and cannot be set.
    """

    IS_FILE = False

    def __init__(
        self,
        name: str,
        default: Any = None,
        type: Any = None,
        help: str | None = None,
        required: bool = False,
        show_default: bool = True,
        separator: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.name = name
        self.default = default
        self.help = help
        self.required = required
        self.show_default = show_default
        self.separator = separator
        self.kwargs = kwargs
        if type is None:
            type = _infer_type(default)
        self.type = type
        self.attr = name

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr
        self.flow_name = owner.__name__
        self._owner = owner  # for @project's fields in current while a default function runs

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        state = obj.__dict__.get("_rf")
        if state is None:
            return self.resolve_default()
        return state.param(self.attr)

    def __set__(self, obj: Any, value: Any) -> None:
        raise AttributeError(f"parameter '{self.name}' is read-only inside a step")

    @property
    def option(self) -> str:
        return self.name

    def resolve_default(self) -> Any:
        default = self.default
        if isinstance(default, ConfigExpr):  # ``default=cfg.x`` / ``config_expr("cfg.x")``
            default = default.evaluate(active_namespace(getattr(self, "_owner", None)))
        elif callable(default) and not isinstance(default, type):
            default = self._call_default(default)
        if default is None:
            return None
        if isinstance(default, str):
            return self.convert(default)
        return default

    def _call_default(self, fn: Any) -> Any:
        """A function default is called when the run starts; as in Metaflow, one that takes an
        argument gets a ParameterContext (flow_name, user_name, parameter_name...)."""
        import inspect

        try:
            wanted = [
                p
                for p in inspect.signature(fn).parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
        except (TypeError, ValueError):
            wanted = []
        try:
            with _project_current(getattr(self, "_owner", None)):
                if not wanted:
                    return fn()
                return fn(self._context())
        except Exception as exc:  # noqa: BLE001 - the user's function: one clear line
            raise ParameterError(
                f"parameter --{self.name}: its default function failed: {type(exc).__name__}: {exc}"
            ) from None

    def _context(self) -> ParameterContext:
        from rayflow.scheduler._identity import username

        return ParameterContext(
            flow_name=getattr(self, "flow_name", None),
            user_name=username(),
            parameter_name=self.name,
            logger=print,
            ds_type="local",
            configs=ConfigValue(active_namespace(getattr(self, "_owner", None))),
        )

    def convert(self, raw: Any) -> Any:
        """Turn a CLI string (or a Python value from ``Runner``) into the parameter's value."""
        try:
            if self.separator and isinstance(raw, str):
                return [self._convert_one(p) for p in raw.split(self.separator)]
            return self._convert_one(raw)
        except ParameterError:
            raise
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            kind = getattr(self.type, "name", None) or getattr(
                self.type, "__name__", str(self.type)
            )
            raise ParameterError(
                f"parameter --{self.name}: {raw!r} is not a valid {kind} ({exc})"
            ) from None

    def _convert_one(self, raw: Any) -> Any:
        t = self.type
        if t is JSONType or isinstance(t, JSONType):
            return JSONType.convert(raw)
        if t is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "y", "on"):
                return True
            if text in ("0", "false", "no", "n", "off"):
                return False
            raise ValueError("expected true or false")
        if t in (int, float, str):
            if t is int and isinstance(raw, float) and not raw.is_integer():
                raise ValueError("not an integer")
            return t(raw)
        if callable(t):
            return t(raw)
        return raw

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, default={self.default!r})"


class IncludeFile(Parameter):
    """A parameter whose value is the content of a local file, read when the run starts."""

    IS_FILE = True

    def __init__(
        self,
        name: str,
        default: Any = None,
        is_text: bool = True,
        encoding: str = "utf-8",
        help: str | None = None,
        required: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, default=default, type=str, help=help, required=required, **kwargs)
        self.is_text = is_text
        self.encoding = encoding

    def resolve_default(self) -> Any:
        default = self._call_default(self.default) if callable(self.default) else self.default
        return None if default is None else self.convert(default)

    def convert(self, raw: Any) -> Any:
        if not isinstance(raw, (str, os.PathLike)):
            return raw
        path = os.path.expanduser(str(raw))
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ParameterError(
                f"parameter --{self.name}: cannot read file {path!r}: {exc.strerror}"
            ) from None
        if self.is_text:
            try:
                return data.decode(self.encoding)
            except UnicodeDecodeError as exc:
                raise ParameterError(
                    f"parameter --{self.name}: {path!r} is not {self.encoding} text ({exc.reason})"
                ) from None
        return data


def _infer_type(default: Any) -> Any:
    if callable(default) and not isinstance(default, type):
        return str
    if isinstance(default, bool):
        return bool
    if isinstance(default, (int, float)):
        return type(default)
    if isinstance(default, (dict, list)):
        return JSONType
    return str


def flow_parameters(flow_cls: type) -> list[Parameter]:
    """The flow's parameters in definition order (including inherited ones)."""
    seen: dict[str, Parameter] = {}
    for klass in reversed(flow_cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Parameter):
                seen[attr] = value
    return list(seen.values())


def env_value(name: str) -> str | None:
    """A parameter not given on the command line may come from the environment
    (``settings.run_parameter``: ``RAYFLOW_RUN_<NAME>``, or Metaflow's ``METAFLOW_RUN_<NAME>``)."""
    from rayflow.datastore import settings

    return settings.run_parameter(name)


def resolve_values(flow_cls: type, given: dict[str, Any]) -> dict[str, Any]:
    """Values for every parameter, keyed by attribute: given ones converted, defaults filled in.

    ``given`` is keyed by parameter name (or attribute name). Unknown names and missing required
    parameters raise ParameterError.
    """
    params = flow_parameters(flow_cls)
    by_name = {p.name: p for p in params}
    by_name.update({p.attr: p for p in params})
    by_name.update({p.name.replace("-", "_"): p for p in params})
    unknown = [k for k in given if k not in by_name]
    if unknown:
        known = ", ".join(f"--{p.name}" for p in params) or "none"
        raise ParameterError(
            f"unknown parameter --{unknown[0]} for {flow_cls.__name__} (parameters: {known})"
        )
    out: dict[str, Any] = {}
    for key, raw in given.items():
        p = by_name[key]
        out[p.attr] = p.convert(raw)
    for p in params:
        if p.attr in out:
            continue
        from_env = env_value(p.name)
        if from_env is not None:
            out[p.attr] = p.convert(from_env)
            continue
        if p.required and p.default is None:
            raise ParameterError(f"missing required parameter --{p.name} for {flow_cls.__name__}")
        out[p.attr] = p.resolve_default()
    return out
