"""Reading a flow's Config values before a run, and putting them where the flow uses them.

Where a value comes from, first match wins per config: ``--config NAME FILE`` / ``--config-value
NAME JSON`` on the command line; ``RAYFLOW_FLOW_CONFIG`` / ``RAYFLOW_FLOW_CONFIG_VALUE`` (or
Metaflow's ``METAFLOW_...``: a JSON object ``{name: file}`` / ``{name: value}``); the config's
``default`` file when it exists; its ``default_value``; else ``required`` is an error and the
value is None. A resume takes the values recorded in its origin run instead (``run.json``
``configs``), so it sees the same flow.

Once read, the values are applied to the flow class (``_rf_config_values``, and any flow-level
attribute a decorator deferred, e.g. ``@project(name=config_expr(...))``), the decorator options
of the plan are evaluated (``resolve_plan``), and the values join the run's parameters so every
task has them as artifacts.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._configs import UNPACK, Config, ConfigExpr, ConfigValue, _plain, flow_configs
from ._errors import ConfigError

_VALUES = "_rf_config_values"  # on the flow class: {config name: value as read}
DEFERRED = "_rf_deferred"  # on the flow class: {class attribute: ConfigExpr} set by flow decorators
_active: list[type] = []  # the flow class whose configs were applied last (for Parameter defaults)


@dataclass
class ConfigInput:
    """What the command line gave (``files``/``values`` by config name), or a resume's ``stored``
    values."""

    files: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    stored: dict[str, Any] | None = None


def ensure(flow_cls: type, given: ConfigInput | None = None) -> None:
    """Read (or take the stored) values of the flow's configs and apply them to the class."""
    given = given or ConfigInput()
    configs = flow_configs(flow_cls)
    if not configs and not given.files and not given.values and not _deferred(flow_cls):
        return
    values = dict(given.stored) if given.stored is not None else read_values(flow_cls, given)
    type.__setattr__(flow_cls, _VALUES, values)
    _active[:] = [flow_cls]
    ns = namespace(flow_cls)
    for attr, expr in _deferred(flow_cls).items():
        type.__setattr__(flow_cls, attr, _plain(expr.evaluate(ns)))


def _deferred(flow_cls: type) -> dict[str, ConfigExpr]:
    return dict(getattr(flow_cls, DEFERRED, None) or {})


def read_values(flow_cls: type, given: ConfigInput) -> dict[str, Any]:
    configs = flow_configs(flow_cls)
    known = {c.name for c in configs}
    for names, flag in ((given.files, "--config"), (given.values, "--config-value")):
        for name in names:
            if name not in known:
                listed = ", ".join(sorted(known)) or "none"
                raise ConfigError(
                    f"{flag} {name}: {flow_cls.__name__} has no config named "
                    f"'{name}' (configs: {listed})"
                )
    env_files, env_values = _environment(False), _environment(True)
    out: dict[str, Any] = {}
    for c in configs:
        out[c.name] = _value_of(c, flow_cls, given, env_files, env_values, out)
    return out


def _environment(values: bool) -> dict[str, Any]:
    from rayflow.datastore import settings

    found = settings.flow_config(values)
    if found is None:
        return {}
    variable, text = found
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{variable}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{variable}: expected a JSON object {{config name: ...}}")
    return data


def _value_of(
    c: Config,
    flow_cls: type,
    given: ConfigInput,
    env_files: dict[str, Any],
    env_values: dict[str, Any],
    earlier: dict[str, Any],
) -> Any:
    for files, values, where in (
        (given.files, given.values, ("--config", "--config-value")),
        (env_files, env_values, ("FLOW_CONFIG", "FLOW_CONFIG_VALUE")),
    ):
        if c.name in files and c.name in values:
            raise ConfigError(
                f"config '{c.name}': given both as a file ({where[0]}) and as a "
                f"value ({where[1]}); give one"
            )
        if c.name in files:
            return _from_file(c, str(files[c.name]), where[0])
        if c.name in values:
            raw = values[c.name]
            return _parse(c, raw if isinstance(raw, str) else json.dumps(raw), where[1])
    default = _called(c, c.default, flow_cls, earlier)
    if default is not None and os.path.isfile(os.path.expanduser(str(default))):
        return _from_file(c, str(default), "its default file")
    value = _called(c, c.default_value, flow_cls, earlier)
    if value is not None:
        return (
            _parse(c, value, "default_value")
            if isinstance(value, str)
            else _checked(c, value, "default_value")
        )
    if c.required:
        missing = f" (its default file {default!r} does not exist)" if default is not None else ""
        raise ConfigError(
            f"config '{c.name}' of {flow_cls.__name__} is required{missing}: give "
            f"--config {c.name} FILE or --config-value {c.name} JSON"
        )
    return None


def _called(c: Config, value: Any, flow_cls: type, earlier: dict[str, Any]) -> Any:
    """A default given as a function gets a ParameterContext (configs read so far included)."""
    if not callable(value):
        return value
    from rayflow.scheduler._identity import username

    from ._parameters import ParameterContext

    ctx = ParameterContext(
        flow_name=flow_cls.__name__,
        user_name=username(),
        parameter_name=c.name,
        logger=print,
        ds_type="local",
        configs=ConfigValue(earlier),
    )
    try:
        return value(ctx)
    except Exception as exc:  # noqa: BLE001 - the user's function: one clear line
        raise ConfigError(
            f"config '{c.name}': its default function failed: {type(exc).__name__}: {exc}"
        ) from None


def _from_file(c: Config, path: str, where: str) -> Any:
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(
            f"config '{c.name}': cannot read {path!r} ({where}): {exc.strerror}"
        ) from None
    return _parse(c, text, f"{path!r}")


def _parse(c: Config, text: str, where: str) -> Any:
    parser = c.parser
    try:
        if parser is None:
            value = json.loads(text)
        else:
            if isinstance(parser, str):
                module, _, name = parser.rpartition(".")
                parser = getattr(importlib.import_module(module), name)
            value = parser(text)
    except Exception as exc:  # noqa: BLE001 - user text or the user's parser: one clear line
        how = "JSON" if c.parser is None else f"parsed by {c.parser!r}"
        raise ConfigError(
            f"config '{c.name}': the value from {where} cannot be {how}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    return _checked(c, value, where)


def _checked(c: Config, value: Any, where: str) -> Any:
    if not c.plain and value is not None and not isinstance(value, Mapping):
        raise ConfigError(
            f"config '{c.name}': the value from {where} is a {type(value).__name__}, "
            "not a mapping (use plain=True for other values)"
        )
    return value


# -- using the values -------------------------------------------------------------------------
def namespace(flow_cls: type | None) -> dict[str, Any]:
    """The applied values by config name, as steps see them (ConfigValue unless ``plain``)."""
    if flow_cls is None:
        return {}
    values = getattr(flow_cls, _VALUES, None) or {}
    plain = {c.name for c in flow_configs(flow_cls) if c.plain}
    return {k: v if k in plain or v is None else ConfigValue(v) for k, v in values.items()}


def active_namespace(owner: type | None) -> dict[str, Any]:
    """For a Parameter defined on ``owner``: the configs of the flow being prepared (a subclass
    of ``owner`` perhaps), else the owner's own."""
    if _active and owner is not None and issubclass(_active[0], owner):
        return namespace(_active[0])
    return namespace(owner)


def artifacts(flow_cls: type) -> dict[str, Any]:
    """The values by attribute, stored with the run's parameters (artifacts of every task)."""
    ns = namespace(flow_cls)
    return (
        {c.attr: ns.get(c.name) for c in flow_configs(flow_cls)}
        if getattr(flow_cls, _VALUES, None) is not None
        else {}
    )


def recorded(flow_cls: type) -> dict[str, Any] | None:
    """The values as run.json keeps them (what a resume applies again); None without configs."""
    values = getattr(flow_cls, _VALUES, None)
    if values is None or not flow_configs(flow_cls):
        return None
    return {k: _plain(v) for k, v in values.items()}


def resolve_plan(plan: dict[str, Any], flow_cls: type) -> None:
    """Evaluate the config reads in the plan's decorator options (and validate the result)."""
    from rayflow.scheduler import DecoratorError
    from rayflow.scheduler.decorators import REGISTRY

    ns: dict[str, Any] | None = None
    for step, node in plan.items():
        decos = node.get("decorators") or {}
        for name, attrs in list(decos.items()):
            if not _has_expr(attrs):
                continue
            ns = namespace(flow_cls) if ns is None else ns
            resolved = resolve_options(attrs, ns)
            cls = REGISTRY.get(name)
            try:
                decos[name] = dict(cls(**resolved).attributes) if cls is not None else resolved
            except DecoratorError as exc:
                raise type(exc)(f"step '{step}', options read from its configs: {exc}") from None


def resolve_options(attrs: dict[str, Any], ns: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(key, str) and key.startswith(UNPACK):
            unpacked = _resolved(value, ns)
            if not isinstance(unpacked, Mapping):
                raise ConfigError(
                    f"**{value!r} in a decorator is a {type(unpacked).__name__}, not a mapping"
                )
            out.update(unpacked)
        else:
            out[key] = _resolved(value, ns)
    return out


def _resolved(value: Any, ns: Mapping[str, Any]) -> Any:
    if isinstance(value, ConfigExpr):
        return _plain(value.evaluate(ns))
    if isinstance(value, dict):
        return {_resolved(k, ns): _resolved(v, ns) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return type(value)(_resolved(v, ns) for v in value)
    return value


def _has_expr(value: Any) -> bool:
    if isinstance(value, ConfigExpr):
        return True
    if isinstance(value, dict):
        return any(
            (isinstance(k, str) and k.startswith(UNPACK)) or _has_expr(v) for k, v in value.items()
        )
    if isinstance(value, (list, tuple, set)):
        return any(_has_expr(v) for v in value)
    return False


def deferred(attrs: dict[str, Any]) -> bool:
    """Whether decorator options read configs (``cfg.x``, ``**cfg``): checked when the plan is made."""
    return _has_expr(attrs)


def later(cls: type, attrs: dict[str, Any]) -> Any:
    """A decorator whose options read configs: kept unchecked (its class checks the evaluated
    options in ``resolve_plan``); names it does not accept are still refused at once."""
    unknown = sorted(k for k in attrs if not k.startswith(UNPACK) and k not in cls.defaults)
    if unknown:
        cls(**{k: attrs[k] for k in unknown})  # raises the class's own one-line error
    deco = cls.__new__(cls)
    deco.attributes = {**cls.defaults, **attrs}
    return deco
