"""The flow's code on the worker: its file names given back, its local modules fresh per run.

cloudpickle ships a flow class defined in a script by value, and since cloudpickle 3.1 it writes
every such code object's file name as ``<dynamic-code>``. Tracebacks of user code must name the
flow file and line (that is how users find their bug), so the driver sends the files of the
modules it pickles by value and the worker puts each name back.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any

_DYNAMIC = "<dynamic-code>"


def module_files(flow_cls: type) -> dict[str, str]:
    """``{module name: source file}`` of the flow class's module: the one module shipped by value
    (``_run._class_bytes``); bases imported from elsewhere travel by reference, names intact."""
    path = getattr(sys.modules.get(flow_cls.__module__), "__file__", None)
    return {flow_cls.__module__: path} if path else {}


def forget_local_modules(folder: str) -> list[str]:
    """Drop the modules this worker imported from the flow's folder, so that a new run imports
    them afresh. A worker outlives runs (a notebook's Ray serves every run of the session); a
    helper module edited between two runs must run as edited, or the second run computes with
    the old code and its ``@cache`` entry, keyed by the new source, would be stale. Installed
    packages, hidden folders and rayflow itself stay."""
    root = os.path.abspath(folder)
    dropped = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path or name.split(".")[0] in ("rayflow", "ray"):
            continue
        path = os.path.abspath(path)
        if not path.startswith(root.rstrip(os.sep) + os.sep):
            continue
        parts = os.path.relpath(path, root).split(os.sep)[:-1]
        if any(p in ("site-packages", "dist-packages") or p.startswith(".") for p in parts):
            continue
        del sys.modules[name]
        dropped.append(name)
    return dropped


def _fixed(code: types.CodeType, path: str) -> types.CodeType:
    consts = tuple(_fixed(c, path) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    if code.co_filename != _DYNAMIC and consts == code.co_consts:
        return code
    return code.replace(
        co_filename=path if code.co_filename == _DYNAMIC else code.co_filename, co_consts=consts
    )


def restore(flow_cls: type, files: dict[str, str]) -> None:
    """Point every by-value function reachable from the class (methods, the module-level helpers
    and classes they use) back at its source file."""
    if not files:
        return
    seen: set[int] = set()
    todo: list[Any] = [flow_cls]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (staticmethod, classmethod)):
            todo.append(obj.__func__)
        elif isinstance(obj, property):
            todo.extend(f for f in (obj.fget, obj.fset, obj.fdel) if f is not None)
        elif isinstance(obj, types.FunctionType):
            path = files.get(getattr(obj, "__module__", None) or "")
            if path is None:
                continue
            obj.__code__ = _fixed(obj.__code__, path)
            todo.extend(obj.__globals__.values())
            if hasattr(obj, "__wrapped__"):
                todo.append(obj.__wrapped__)
            todo.extend(c.cell_contents for c in obj.__closure__ or () if _filled(c))
        elif isinstance(obj, type) and obj.__module__ in files:
            todo.extend(obj.__dict__.values())
            todo.extend(obj.__bases__)


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True
