"""Load a flow class from ``FILE[:FlowClass]`` with errors that point at the file and line."""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from types import ModuleType

from ._errors import FlowLoadError


def split_target(target: str) -> tuple[str, str | None]:
    path, sep, cls = target.rpartition(":")
    if sep and path and cls.isidentifier():
        return path, cls
    return target, None


def load_flow(target: str) -> tuple[type, str]:
    """Return ``(flow class, absolute file path)`` for ``FILE[:FlowClass]``."""
    path, cls_name = split_target(target)
    if not os.path.exists(path):
        raise FlowLoadError(f"{path}: flow file not found")
    if os.path.isdir(path):
        raise FlowLoadError(f"{path}: is a directory, not a flow file")
    abspath = os.path.abspath(path)
    with open(abspath, "rb") as f:
        source = f.read()
    try:
        compile(source, abspath, "exec")
    except SyntaxError as exc:
        raise FlowLoadError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    module = _exec_module(path, abspath)
    flow_cls = pick_flow(module, path, cls_name)
    from rayflow.scheduler._sources import remember_flow_file

    remember_flow_file(flow_cls)  # for @cache: the flow file as loaded, before it can change
    return flow_cls, abspath


def _exec_module(path: str, abspath: str) -> ModuleType:
    folder = os.path.dirname(abspath)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    stem = os.path.splitext(os.path.basename(abspath))[0]
    name = f"_rayflow_flow_{''.join(c if c.isalnum() else '_' for c in stem)}"
    spec = importlib.util.spec_from_file_location(name, abspath)
    if spec is None or spec.loader is None:
        raise FlowLoadError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SystemExit:
        raise FlowLoadError(
            f"{path}: the module exited while being imported "
            "(guard the FlowSpec call with `if __name__ == '__main__':`)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - report the user's error at its own line
        sys.modules.pop(name, None)
        line = _user_line(exc, abspath)
        where = f"{path}:{line}" if line else path
        raise FlowLoadError(
            f"{where}: error while importing the flow: {type(exc).__name__}: {exc}"
        ) from None
    return module


def _user_line(exc: BaseException, abspath: str) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == abspath:
            line = frame.lineno
    return line


def pick_flow(module: ModuleType, path: str, cls_name: str | None) -> type:
    from ._flowspec import FlowSpec

    flows = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, FlowSpec)
        and v is not FlowSpec
        and v.__module__ == module.__name__
    ]
    if cls_name is not None:
        match = [f for f in flows if f.__name__ == cls_name]
        if not match:
            names = ", ".join(f.__name__ for f in flows) or "none"
            raise FlowLoadError(f"{path}: no FlowSpec subclass named {cls_name} (found: {names})")
        return match[0]
    if not flows:
        raise FlowLoadError(f"{path}: no FlowSpec subclass found")
    if len(flows) > 1:
        names = ", ".join(f.__name__ for f in flows)
        raise FlowLoadError(
            f"{path}: several flows ({names}); choose one with {path}:{flows[0].__name__}"
        )
    return flows[0]
