"""Metaflow's ``Config``: values fixed before a run starts, usable where Parameters cannot be.

A ``Config`` is read once, before anything runs (from ``--config NAME FILE``, ``--config-value
NAME JSON``, the environment, or its default), so unlike a Parameter it can shape the flow itself:
decorator options (``@environment(vars={"x": cfg.x})``, ``@environment(**cfg)``), ``@project``
names, Parameter defaults. At class-definition time no value exists yet, so touching a Config
there (``cfg.a.b``, ``cfg["a"]``, ``**cfg``, ``config_expr("cfg.x + 1")``) builds a
``ConfigExpr``: a recipe evaluated when the values are known (``rayflow._configuse``). Inside a
step ``self.cfg`` is the value itself, a read-only ``ConfigValue``, stored with the run like a
parameter so every step, a resume and the client see the same one.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._errors import ConfigError

UNPACK = "_rf_unpack_"  # key prefix of ``**cfg`` in a decorator's options, until resolved


class ConfigValue(dict):
    """A config's value: a dict (JSON-dumpable, equal to the plain dict) whose keys also read as
    attributes (``cfg.nested.value``), nested mappings included, and that cannot be changed (a
    step that assigns to it raises TypeError: every step must see the value the run started
    with)."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        dict.__init__(self, {k: _wrap(v) for k, v in (data or {}).items()})

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(
                f"config has no key '{key}' (keys: {', '.join(map(str, self))})"
            ) from None

    def _readonly(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a config value is read-only (configs are fixed before the run starts)")

    __setattr__ = __delattr__ = __setitem__ = __delitem__ = __ior__ = _readonly  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """The plain nested dicts and lists (what the config was read from)."""
        return _plain(self)

    def copy(self) -> ConfigValue:  # type: ignore[override]
        return ConfigValue(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return ConfigValue, (self.to_dict(),)


def _wrap(value: Any) -> Any:
    if isinstance(value, ConfigValue):
        return value
    if isinstance(value, Mapping):
        return ConfigValue(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_wrap(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


class ConfigExpr:
    """A deferred read of config values: an expression over the configs' names (``"cfg"``,
    ``"str(cfg.value)"``) plus the attribute/item accesses made on it since (``.a["b"]``).

    ``**expr`` unpacks as one marker key (``UNPACK...``) whose value is the expression itself;
    whoever resolves the options replaces it with the evaluated mapping's items.
    """

    def __init__(
        self, expr: str, path: tuple[tuple[str, Any], ...] = (), scope: dict[str, Any] | None = None
    ) -> None:
        object.__setattr__(self, "_expr", expr)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_scope", scope)  # the defining module's globals (not pickled)

    def __getattr__(self, name: str) -> ConfigExpr:
        if name.startswith("_"):
            raise AttributeError(name)
        return ConfigExpr(self._expr, (*self._path, ("attr", name)), self._scope)

    def __getitem__(self, key: Any) -> ConfigExpr:
        if key == self._unpack_key():
            return self
        return ConfigExpr(self._expr, (*self._path, ("item", key)), self._scope)

    def keys(self) -> list[str]:
        return [self._unpack_key()]

    def _unpack_key(self) -> str:
        return f"{UNPACK}{id(self)}"

    def evaluate(self, namespace: Mapping[str, Any]) -> Any:
        """The value, given the configs by name; a wrong name or key is one ConfigError line."""
        scope = self._scope if self._scope is not None else {"__builtins__": builtins}
        try:
            value = eval(self._expr, scope, dict(namespace))  # noqa: S307 - the flow's own code
            for kind, key in self._path:
                value = getattr(value, key) if kind == "attr" else value[key]
        except Exception as exc:  # noqa: BLE001 - the user's expression: one clear line
            raise ConfigError(
                f"config expression {self!r} failed: {type(exc).__name__}: {exc}"
            ) from None
        return value

    def __getstate__(self) -> dict[str, Any]:
        # Module globals do not travel to workers; the values are resolved before the run.
        return {"_expr": self._expr, "_path": self._path, "_scope": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)

    def __repr__(self) -> str:
        tail = "".join(f".{k}" if kind == "attr" else f"[{k!r}]" for kind, k in self._path)
        return f"config_expr({self._expr!r}){tail}"


def config_expr(expr: str) -> ConfigExpr:
    """``config_expr("cfg.x")``: a config read usable where the config's name is not in scope
    (a flow decorator above the class) or a whole expression is wanted; names other than the
    configs' come from the calling module."""
    import sys

    return ConfigExpr(expr, scope=sys._getframe(1).f_globals)


class Config:
    """``cfg = Config("cfg", default="cfg.json" | default_value={...}, parser=..., required=...,
    plain=False)``.

    ``default`` is a file read when no value is given (or a function of a ParameterContext that
    names one); ``default_value`` a value (dict, JSON text, or a function returning either) used
    when there is neither a given value nor a default file. ``parser`` (a callable or a dotted
    ``"module.function"``) turns text into a dict; JSON otherwise. ``plain`` keeps the value as
    parsed instead of a ConfigValue.
    """

    IS_CONFIG_PARAMETER = True  # Metaflow's mark; checks that walk a flow's parameters read it

    def __init__(
        self,
        name: str,
        default: str | Callable[..., str] | None = None,
        default_value: Any = None,
        help: str | None = None,
        required: bool | None = None,
        parser: str | Callable[[str], Any] | None = None,
        plain: bool = False,
        **kwargs: Any,
    ) -> None:
        if default is not None and default_value is not None:
            raise ConfigError(f"config '{name}': give default (a file) or default_value, not both")
        names = {
            "name": name,
            "default": default,
            "default_value": default_value,
            "help": help,
            "required": bool(required),
            "parser": parser,
            "plain": plain,
            "kwargs": kwargs,
            "attr": name,
        }
        for key, value in names.items():
            object.__setattr__(self, key, value)

    def __set_name__(self, owner: type, attr: str) -> None:
        object.__setattr__(self, "attr", attr)

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        state = obj.__dict__.get("_rf")
        if state is not None:
            return state.param(self.attr)
        from ._configuse import namespace

        return namespace(type(obj)).get(self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        raise AttributeError(f"config '{self.name}' is read-only inside a step")

    # -- at class-definition time: deferred reads --------------------------------------------
    def __getattr__(self, name: str) -> ConfigExpr:
        if name.startswith("_") or name in ("is_step", "IS_FILE"):
            raise AttributeError(name)
        return getattr(ConfigExpr(self.name), name)

    def __getitem__(self, key: Any) -> ConfigExpr:
        if isinstance(key, str) and key.startswith(UNPACK):
            return ConfigExpr(self.name)
        return ConfigExpr(self.name)[key]

    def keys(self) -> list[str]:
        return [f"{UNPACK}{id(self)}"]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __repr__(self) -> str:
        return f"Config({self.name!r})"


def flow_configs(flow_cls: type) -> list[Config]:
    """The flow's configs in definition order (inherited ones included)."""
    seen: dict[str, Config] = {}
    for klass in reversed(flow_cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Config):
                seen[attr] = value
    return list(seen.values())


__all__ = ["Config", "ConfigExpr", "ConfigValue", "config_expr", "flow_configs"]
