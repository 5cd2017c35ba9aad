"""What a step reads of its flow, worked out from the step's own source (for the ``@cache`` key).

A cached step's key names only the parameters the step reads, so that changing an unrelated one
does not re-run it. That is only safe when every read can be seen: a plain ``self.x`` in the
step's own body, or, in a join, ``inputs.a.x``, ``inputs[0].x`` and ``for i in inputs: i.x``.
Anything else could read any parameter, and the step *escapes*: ``self`` (or an input) passed to
a call (``use(self)``, ``getattr``, ``vars``), bound to another name, returned, captured by a
lambda or nested function, a dunder or private attribute (``self.__dict__``), a method, property
or other descriptor of the flow class, ``super()``, ``locals()``, ``eval``, frame inspection.
An escaping step's key holds every parameter. Whatever is not proven plain counts as escape:
a needless miss costs time, a stale hit is a wrong result.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, field
from typing import Any

# FlowSpec's own members a step may use without reading parameters: they see the task's foreach
# frames and inputs only, which the key holds anyway.
_SAFE_CALLS = ("next", "merge_artifacts", "foreach_stack")
_SAFE_VALUES = ("input", "index", "name", "script_name")
_VIEW_CALLS = ("foreach_stack",)
_ESCAPE_NAMES = {"super", "locals", "vars", "eval", "exec", "__class__", "breakpoint"}
_ESCAPE_ATTRS = {"f_locals", "f_back", "f_globals", "_getframe", "currentframe"}
_SCOPES = (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_MISSING = object()


@dataclass
class StepReads:
    """``names``: attributes read through ``self`` or an input; ``escape``: why the step may
    read more than that (``None`` when every read is plain)."""

    names: set[str] = field(default_factory=set)
    escape: str | None = None


def step_reads(fdef: ast.FunctionDef | ast.AsyncFunctionDef, flow_cls: type | None) -> StepReads:
    return _Reads(fdef, flow_cls).run()


class _Reads:
    def __init__(self, fdef: ast.FunctionDef | ast.AsyncFunctionDef, flow_cls: type | None) -> None:
        self.fdef = fdef
        self.flow_cls = flow_cls
        args = [a.arg for a in fdef.args.args]
        self.self_name = args[0] if args else None
        self.inputs_name = args[1] if len(args) == 2 else None
        self.parents: dict[ast.AST, ast.AST] = {}
        for stmt in fdef.body:
            self.parents[stmt] = fdef
            for node in ast.walk(stmt):
                for child in ast.iter_child_nodes(node):
                    self.parents[child] = node
        self.views = self._loop_views()
        self.out = StepReads()

    def run(self) -> StepReads:
        args = self.fdef.args
        if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
            return StepReads(escape="the step takes extra arguments")
        for node in self.parents:
            why = self._check(node)
            if why is not None:
                self.out.escape = why
                break
        return self.out

    # -- one node ----------------------------------------------------------------------------
    def _check(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            if node.id in _ESCAPE_NAMES:
                return f"uses {node.id}"
            if node.id == self.self_name:
                return self._self_use(node)
            if node.id == self.inputs_name:
                return self._inputs_use(node)
            if node.id in self.views:
                return self._view_name_use(node)
        elif isinstance(node, ast.Attribute) and node.attr in _ESCAPE_ATTRS:
            return f"inspects frames (.{node.attr})"
        return None

    def _self_use(self, node: ast.Name) -> str | None:
        if not isinstance(node.ctx, ast.Load):
            return "rebinds self"
        if self._nested(node):
            return "uses self in a nested function or lambda"
        parent = self.parents.get(node)
        if not isinstance(parent, ast.Attribute) or parent.value is not node:
            return "passes self on (a call, an assignment, a return...)"
        attr = parent.attr
        if attr.startswith(("__", "_rf")):
            return f"uses self.{attr}"
        member = self._member(attr)
        if self._called(parent):
            if attr in _SAFE_CALLS and member is self._flowspec_member(attr):
                return None
            return f"calls self.{attr}()"
        if attr in _SAFE_VALUES and member is self._flowspec_member(attr):
            return None
        if member is not _MISSING and not _plain_member(member):
            return f"self.{attr} runs code of the flow class"
        self.out.names.add(attr)
        return None

    def _inputs_use(self, node: ast.Name) -> str | None:
        if not isinstance(node.ctx, ast.Load):
            return "rebinds inputs"
        if self._nested(node):
            return "uses inputs in a nested function or lambda"
        parent = self.parents.get(node)
        if (
            isinstance(parent, ast.Attribute)
            and parent.value is node
            and not parent.attr.startswith("_")
        ):
            return self._view_use(parent)  # inputs.<step>
        if isinstance(parent, ast.Subscript) and parent.value is node:
            return self._view_use(parent)  # inputs[i]
        if isinstance(parent, (ast.For, ast.comprehension)) and parent.iter is node:
            return None  # the loop variable is a view (self.views)
        if isinstance(parent, ast.Call) and node in parent.args:
            if isinstance(parent.func, ast.Name) and parent.func.id == "len":
                return None
            if _is_attr_of(parent.func, self.self_name, "merge_artifacts"):
                return None  # merges artifacts, never parameters
        return "passes inputs on (a call, an assignment...)"

    def _view_name_use(self, node: ast.Name) -> str | None:
        if not isinstance(node.ctx, ast.Load):
            parent = self.parents.get(node)
            bound = isinstance(parent, (ast.For, ast.comprehension)) and parent.target is node
            return None if bound else f"rebinds {node.id}"
        if self._nested(node):
            return f"uses {node.id} in a nested function or lambda"
        return self._view_use(node)

    def _view_use(self, view: ast.expr) -> str | None:
        """``view`` evaluates to one input of the join: only ``view.<artifact>`` is plain."""
        parent = self.parents.get(view)
        if (
            not isinstance(parent, ast.Attribute)
            or parent.value is not view
            or parent.attr.startswith("_")
        ):
            return "passes an input on (a call, an assignment...)"
        if self._called(parent):
            return None if parent.attr in _VIEW_CALLS else f"calls .{parent.attr}() on an input"
        self.out.names.add(parent.attr)
        return None

    # -- helpers -----------------------------------------------------------------------------
    def _loop_views(self) -> set[str]:
        """Names bound by ``for i in inputs`` (statement or comprehension): each is one input."""
        names: set[str] = set()
        if self.inputs_name is None:
            return names
        for node in self.parents:
            if (
                isinstance(node, (ast.For, ast.comprehension))
                and isinstance(node.iter, ast.Name)
                and node.iter.id == self.inputs_name
                and isinstance(node.target, ast.Name)
            ):
                names.add(node.target.id)
        return names

    def _nested(self, node: ast.AST) -> bool:
        parent = self.parents.get(node)
        while parent is not None and parent is not self.fdef:
            if isinstance(parent, _SCOPES):
                return True
            parent = self.parents.get(parent)
        return False

    def _called(self, attr: ast.Attribute) -> bool:
        parent = self.parents.get(attr)
        return isinstance(parent, ast.Call) and parent.func is attr

    def _member(self, name: str) -> Any:
        if self.flow_cls is None:
            return _MISSING
        return inspect.getattr_static(self.flow_cls, name, _MISSING)

    @staticmethod
    def _flowspec_member(name: str) -> Any:
        from ._flowspec import FlowSpec

        return inspect.getattr_static(FlowSpec, name, _MISSING)


def _plain_member(member: Any) -> bool:
    """A class attribute whose read runs no flow code: a parameter, a step (``self.next(self.a)``)
    or a plain value (the key holds the flow's constants, and its source)."""
    from ._parameters import Parameter

    if isinstance(member, Parameter) or getattr(member, "is_step", False):
        return True
    return not (
        callable(member)
        or hasattr(type(member), "__get__")
        or isinstance(member, type)
        or inspect.ismodule(member)
    )


def _is_attr_of(expr: ast.expr, name: str | None, attr: str) -> bool:
    return (
        isinstance(expr, ast.Attribute)
        and expr.attr == attr
        and isinstance(expr.value, ast.Name)
        and expr.value.id == name
    )
