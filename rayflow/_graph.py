"""The flow's graph, read statically from the step functions' source before anything runs.

Like Metaflow, a step's transitions are what its last statement ``self.next(...)`` names; the
graph never depends on running user code.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ._decorators import step_decorators
from ._reads import step_reads


@dataclass
class StepNode:
    name: str
    file: str
    line: int
    out: list[str] = field(default_factory=list)
    foreach: str | None = None
    condition: str | None = None
    switch: dict[str, str] = field(default_factory=dict)
    is_join: bool = False
    num_args: int = 1
    has_next: bool = False
    next_line: int = 0
    decorators: list[Any] = field(default_factory=list)
    doc: str = ""
    problems: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    closes: str | None = None
    code_hash: str = ""
    reads: set[str] = field(default_factory=set)  # attributes read through self or inputs
    escape: str | None = "the step's source is unknown"  # why it may read more (rayflow._reads)
    is_parallel: bool = False  # decorated with @parallel

    @property
    def parallel_step(self) -> bool:
        """Metaflow's flag for a step reached with ``num_parallel`` (a @parallel step)."""
        return self.is_parallel

    @property
    def in_funcs(self) -> list[str]:
        """Metaflow's name for the steps that lead here."""
        return self.parents

    @property
    def out_funcs(self) -> list[str]:
        """Metaflow's name for the steps this one goes to."""
        return self.out

    @property
    def type(self) -> str:
        if self.name == "end":
            return "end"
        if self.is_join:
            return "join"
        if self.foreach:
            return "foreach"
        if self.condition:
            return "switch"
        if len(self.out) > 1:
            return "split"
        return "start" if self.name == "start" else "linear"


@dataclass
class FlowGraph:
    flow_name: str
    file: str
    nodes: dict[str, StepNode]

    def __getitem__(self, name: str) -> StepNode:
        return self.nodes[name]

    def __iter__(self):
        return iter(self.nodes.values())

    def to_plan(self, params: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """Plain data for the scheduler, which never imports the user API."""
        params = params or []

        def refs(n: StepNode) -> list[str] | str:
            return "*" if n.escape else sorted(n.reads & set(params))

        return {
            n.name: {
                "type": n.type,
                "is_join": n.is_join,
                "split_kind": "foreach"
                if n.foreach
                else ("split" if len(n.out) > 1 and not n.switch else None),
                "out": list(n.out),
                "foreach": n.foreach,
                "condition": n.condition,
                "switch": dict(n.switch),
                "parents": list(n.parents),
                "closes": n.closes,
                "decorators": {d.name: dict(d.attributes) for d in n.decorators},
                "code_hash": n.code_hash,
                "param_refs": refs(n),
            }
            for n in self.nodes.values()
        }


def step_functions(flow_cls: type) -> dict[str, Any]:
    steps = {}
    for klass in reversed(flow_cls.__mro__):
        for name, value in vars(klass).items():
            if callable(value) and getattr(value, "is_step", False):
                steps[name] = value
    return steps


def build_graph(flow_cls: type) -> FlowGraph:
    file = _source_file(flow_cls)
    nodes = {
        name: _parse_step(name, func, file, flow_cls)
        for name, func in step_functions(flow_cls).items()
    }
    nodes = dict(sorted(nodes.items(), key=lambda kv: kv[1].line))
    functions = step_functions(flow_cls)
    for node in nodes.values():
        node.is_parallel = bool(getattr(functions.get(node.name), "_rf_parallel", False))
        for target in node.out:
            if target in nodes:
                nodes[target].parents.append(node.name)
    _fill_closes(nodes)
    return FlowGraph(flow_cls.__name__, file, nodes)


def _fill_closes(nodes: dict[str, StepNode]) -> None:
    """Give every join the split it closes: the innermost split still open on its inputs.

    Steps are visited in topological order from ``start``, each carrying the stack of splits it
    is inside. This only records the fact the scheduler needs; whether the joins are balanced is
    lint's to say (``rayflow._lint``), and a graph it would refuse may leave ``closes`` as None.
    """
    if "start" not in nodes:
        return
    reachable, queue = {"start"}, deque(["start"])
    while queue:
        for target in nodes[queue.popleft()].out:
            if target in nodes and target not in reachable:
                reachable.add(target)
                queue.append(target)
    indegree = {n: sum(1 for p in nodes[n].parents if p in reachable and p != n) for n in reachable}
    incoming: dict[str, list[tuple[str, ...]]] = {n: [] for n in reachable}
    incoming["start"].append(())
    queue = deque(["start"])
    while queue:
        node = nodes[queue.popleft()]
        stack = incoming[node.name][0] if incoming[node.name] else ()
        if node.is_join and stack:
            node.closes, stack = stack[-1], stack[:-1]
        splits = (len(node.out) > 1 and not node.switch) or bool(node.foreach)
        for target in node.out:
            if target == node.name or target not in reachable:
                continue  # a recursive switch's loop back to itself
            incoming[target].append(stack + (node.name,) if splits else stack)
            indegree[target] -= 1
            if indegree[target] == 0:
                queue.append(target)


def _source_file(flow_cls: type) -> str:
    try:
        return inspect.getsourcefile(flow_cls) or "<unknown>"
    except (TypeError, OSError):
        return "<unknown>"


def _parse_step(name: str, func: Any, default_file: str, flow_cls: type | None = None) -> StepNode:
    code = getattr(func, "__code__", None)
    file = code.co_filename if code else default_file
    first = code.co_firstlineno if code else 0
    node = StepNode(
        name=name,
        file=file,
        line=first,
        decorators=step_decorators(func),
        doc=inspect.getdoc(func) or "",
    )
    try:
        source = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        node.problems.append("cannot read the step's source, so its transitions are unknown")
        return node
    fdef = next(
        (n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None
    )
    if fdef is None:
        node.problems.append("step is not a plain function definition")
        return node
    offset = first - 1
    node.code_hash = hashlib.sha256(source.encode()).hexdigest()
    found = step_reads(fdef, flow_cls)
    node.reads, node.escape = found.names, found.escape
    node.line = fdef.lineno + offset
    node.num_args = len(fdef.args.args)
    node.is_join = node.num_args == 2
    last = fdef.body[-1] if fdef.body else None
    call = _next_call(last)
    if call is None:
        elsewhere = [n for n in ast.walk(fdef) if isinstance(n, ast.Call) and _is_self_next(n)]
        if elsewhere:
            node.next_line = elsewhere[0].lineno + offset
            node.problems.append("self.next() must be the last statement of the step")
        return node
    node.has_next = True
    node.next_line = call.lineno + offset
    _read_next(node, call)
    return node


def _is_self_next(call: ast.Call) -> bool:
    f = call.func
    return (
        isinstance(f, ast.Attribute)
        and f.attr == "next"
        and isinstance(f.value, ast.Name)
        and f.value.id == "self"
    )


def _next_call(stmt: ast.stmt | None) -> ast.Call | None:
    if (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and _is_self_next(stmt.value)
    ):
        return stmt.value
    return None


def _self_attr(expr: ast.expr) -> str | None:
    if (
        isinstance(expr, ast.Attribute)
        and isinstance(expr.value, ast.Name)
        and expr.value.id == "self"
    ):
        return expr.attr
    return None


def _read_next(node: StepNode, call: ast.Call) -> None:
    for arg in call.args:
        if isinstance(arg, ast.Dict):
            for k, v in zip(arg.keys, arg.values):
                target = _self_attr(v) if v is not None else None
                if not isinstance(k, ast.Constant) or target is None:
                    node.problems.append(
                        "a switch in self.next() maps constant values to self.<step>"
                    )
                    continue
                node.switch[str(k.value)] = target
                if target not in node.out:
                    node.out.append(target)
            if not arg.keys:
                node.problems.append("self.next() got an empty switch mapping")
            continue
        target = _self_attr(arg)
        if target is None:
            node.problems.append("self.next() arguments must be steps written as self.<step>")
        else:
            node.out.append(target)
    for kw in call.keywords:
        if kw.arg == "foreach":
            if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                node.foreach = kw.value.value
            else:
                node.problems.append("foreach= must be the artifact's name as a string literal")
        elif kw.arg == "condition":
            if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                node.condition = kw.value.value
            else:
                node.problems.append("condition= must be the artifact's name as a string literal")
        elif kw.arg == "num_parallel":
            from ._parallel import NODES_VAR

            node.foreach = NODES_VAR  # a @parallel step runs as a foreach over its node indices
        else:
            node.problems.append(f"self.next() got an unknown keyword '{kw.arg}'")
    if not node.out and not node.problems:
        node.problems.append("self.next() needs at least one step")
