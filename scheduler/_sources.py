"""The source a flow's steps can run, as one digest for the ``@cache`` key.

A step calls module-level helpers, methods of its class and functions of modules next to the
flow file; an edit to any of them can change its outputs. So the key covers the whole flow file
(and the file of every base class outside rayflow), plus every module it imports from the flow's
own folder, followed recursively (``import helpers``, ``from lib.core import f``, ``from . import
x``), wherever the import statement is. Each file counts by its syntax tree, so comments and
formatting do not invalidate the cache. Not covered: installed packages, modules imported by a
computed name (``importlib.import_module(name)``), and files or environment read at run time.

Each file counts as the version the run executes: the flow's own module travels by value, so
its digest is taken once, when the class is loaded (``remember_flow_file``); every other module
is imported by the workers afresh for each run (``_codefiles.forget_local_modules``), so its
digest is taken when the run starts.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import os
import sys
from typing import NamedTuple

_SKIP_DIRS = ("site-packages", "dist-packages", "__pycache__")


class _FlowFile(NamedTuple):
    path: str
    digest: str
    imports: tuple[str, ...]  # local files its import statements name


def remember_flow_file(flow_cls: type) -> _FlowFile | None:
    """The flow module's file as loaded: kept on the class, the first time it is asked for."""
    found = flow_cls.__dict__.get("_rf_flow_file")
    if found is None:
        path = _own_file(flow_cls)
        found = _FlowFile("", "", ())
        if path is not None:
            data = _read(path)
            if data is not None:
                tree = _parse(data)
                imports = _local_imports(tree, path, os.path.dirname(path)) if tree else []
                found = _FlowFile(path, _digest(data, tree), tuple(imports))
        type.__setattr__(flow_cls, "_rf_flow_file", found)
    return found if found.path else None


def _own_file(flow_cls: type) -> str | None:
    """The file of the class's module, or None when there is none or the class's functions were
    compiled from no file (a notebook cell, ``exec`` of a string): its source is unknown then."""
    files = _class_files(flow_cls)
    if not files or files[0][0] != flow_cls.__module__:
        return None
    path = files[0][1]
    for value in vars(flow_cls).values():
        code = getattr(inspect.unwrap(value) if callable(value) else value, "__code__", None)
        if code is not None and not os.path.isfile(code.co_filename):
            return None  # compiled from a string, not from the module's file
    return path


def sources_key(flow_cls: type) -> str:
    """A digest of every file that can hold code of ``flow_cls``'s steps; "" when the flow's own
    file is unknown (the caller then keys the class as pickled, ``TaskCache``)."""
    files = flow_files(flow_cls)
    digest = hashlib.sha256()
    for label, file_digest in sorted(files.items()):
        digest.update(f"{label}\0{file_digest}\n".encode())
    return digest.hexdigest() if files else ""


def flow_files(flow_cls: type) -> dict[str, str]:
    """``{label: digest}``: the flow's own file as ``<flow>`` (its name may change: flow_v2.py),
    local modules by their path relative to the flow's folder (a moved project keeps its cache),
    base classes' files outside the folder by their module's name."""
    flow_file = remember_flow_file(flow_cls)
    if flow_file is None:
        return {}
    root = os.path.dirname(flow_file.path)
    out = {"<flow>": flow_file.digest}
    seen = {flow_file.path}
    bases = _class_files(flow_cls)[1:]
    labels = {path: label for label, path in bases if not _inside(path, root)}
    todo = [*flow_file.imports, *(path for _, path in bases)]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        data = _read(path)
        if data is None:
            continue
        tree = _parse(data)
        out[labels.get(path) or os.path.relpath(path, root)] = _digest(data, tree)
        if tree is not None:
            todo.extend(p for p in _local_imports(tree, path, root) if p not in seen)
    return out


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _class_files(flow_cls: type) -> list[tuple[str, str]]:
    """``(module name, file)`` of the flow class first, then of its bases outside rayflow."""
    out: list[tuple[str, str]] = []
    for klass in flow_cls.__mro__:
        module = klass.__module__
        if klass is object or module == "rayflow" or module.startswith("rayflow."):
            continue
        path = getattr(sys.modules.get(module), "__file__", None)
        if path is None:
            try:
                path = inspect.getsourcefile(klass)
            except (TypeError, OSError):
                path = None
        if path and os.path.isfile(path):
            path = os.path.abspath(path)
            if all(path != p for _, p in out):
                out.append((module, path))
    return out


def _parse(data: bytes) -> ast.Module | None:
    try:
        return ast.parse(data)
    except (SyntaxError, ValueError):
        return None


def _digest(data: bytes, tree: ast.Module | None) -> str:
    text = ast.dump(tree).encode() if tree is not None else data
    return hashlib.sha256(text).hexdigest()


def _local_imports(tree: ast.Module, path: str, root: str) -> list[str]:
    """Files under ``root`` that the imports of ``path`` (anywhere in it) would execute."""
    here = os.path.dirname(path)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found += _module_files(root, alias.name.split("."))
                found += _loaded_file(alias.name, root)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here
                for _ in range(node.level - 1):
                    base = os.path.dirname(base)
                if not _inside(base, root):
                    continue
                found += _existing(os.path.join(base, "__init__.py"))
            else:
                base = root
            parts = node.module.split(".") if node.module else []
            found += _module_files(base, parts)
            for alias in node.names:  # ``from pkg import sub`` may import a submodule
                if alias.name == "*" or not all(p.isidentifier() for p in parts):
                    continue
                sub = os.path.join(base, *parts, alias.name)
                found += _existing(sub + ".py") + _existing(os.path.join(sub, "__init__.py"))
                if node.module and not node.level:
                    found += _loaded_file(f"{node.module}.{alias.name}", root)
            if node.module and not node.level:
                found += _loaded_file(node.module, root)
    return [p for p in found if _inside(p, root) and not _skipped(p, root)]


def _module_files(base: str, parts: list[str]) -> list[str]:
    """The package ``__init__`` files and the module that importing ``a.b.c`` runs."""
    out: list[str] = []
    folder = base
    for i, part in enumerate(parts):
        if not part.isidentifier():
            break
        last = i == len(parts) - 1
        package = os.path.join(folder, part)
        out += _existing(os.path.join(package, "__init__.py"))
        if last:
            out += _existing(package + ".py")
        folder = package
    return out


def _loaded_file(name: str, root: str) -> list[str]:
    """The file a module already imported under ``name`` came from (e.g. a flow in a package
    imports ``pkg.helpers`` from above its own folder), when it lies under ``root``."""
    path = getattr(sys.modules.get(name), "__file__", None)
    return [os.path.abspath(path)] if path and _inside(path, root) else []


def _existing(path: str) -> list[str]:
    return [os.path.abspath(path)] if os.path.isfile(path) else []


def _inside(path: str, root: str) -> bool:
    path, root = os.path.abspath(path), os.path.abspath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _skipped(path: str, root: str) -> bool:
    parts = os.path.relpath(path, root).split(os.sep)[:-1]
    return any(p in _SKIP_DIRS or p.startswith(".") for p in parts)
