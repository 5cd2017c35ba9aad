"""Static checks of a flow's graph, reported as ``file:line: step 'x': message``.

Every problem is collected (not just the first) so one ``rayflow check`` shows all of them.
"""

from __future__ import annotations

import os
from collections import deque

from ._graph import FlowGraph, StepNode

RESERVED = frozenset(
    {
        "next",
        "input",
        "index",
        "foreach_stack",
        "merge_artifacts",
        "name",
        "script_name",
        "run",
        "resume",
        "check",
        "show",
        "cmd",
        "current",
        "parameters",
    }
)


def _display(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def lint(graph: FlowGraph, class_line: int = 1) -> list[str]:
    problems: list[str] = []

    def report(
        node: StepNode | None, message: str, line: int | None = None, name: str | None = None
    ) -> None:
        file = _display(node.file if node else graph.file)
        at = line or (node.line if node else class_line)
        problems.append(f"{file}:{at}: step '{name or (node.name if node else '?')}': {message}")

    nodes = graph.nodes
    if "start" not in nodes:
        report(
            None,
            f"flow {graph.flow_name} has no start step (define `@step def start(self)`)",
            name="start",
        )
    if "end" not in nodes:
        report(
            None,
            f"flow {graph.flow_name} has no end step (define `@step def end(self)`)",
            name="end",
        )

    structural_ok = True
    for node in nodes.values():
        for msg in node.problems:
            report(node, msg, node.next_line or node.line)
            structural_ok = False
        if node.name in RESERVED:
            report(node, f"'{node.name}' is a reserved name; rename the step")
        if node.name == "end":
            if node.has_next:
                report(node, "the end step must not call self.next()", node.next_line)
        elif not node.has_next and not node.problems:
            report(node, "step has no self.next() transition as its last statement")
            structural_ok = False
        for target in node.out:
            if target not in nodes:
                report(node, f"self.next() names unknown step '{target}'", node.next_line)
                structural_ok = False
        if node.foreach and len(node.out) != 1:
            report(node, "a foreach transition must name exactly one step", node.next_line)
            structural_ok = False
        if node.condition and not node.switch:
            report(
                node, "condition= needs a mapping of values to steps in self.next()", node.next_line
            )
            structural_ok = False
        if node.switch and not node.condition:
            report(
                node, "a switch mapping in self.next() needs condition='artifact'", node.next_line
            )
            structural_ok = False
        if node.num_args > 2 or node.num_args < 1:
            report(node, "a step takes only self, or (self, inputs) when it is a join")
        if node.is_join and len(node.out) > 1 and not node.switch:
            report(node, "step is both a join and a split; add a step between them", node.next_line)
        if node.name == "start" and node.is_join:
            report(node, "the start step cannot be a join")
        if "start" in node.out:
            report(node, "no step may transition back to start", node.next_line)
            structural_ok = False

    if not structural_ok or "start" not in nodes:
        return problems

    if _has_cycle(nodes, problems, report):
        return problems
    reachable = _reachable(nodes)
    for node in nodes.values():
        if node.name not in reachable:
            report(node, "step is unreachable from start")
    _check_balance(nodes, reachable, report)
    return problems


def _has_cycle(nodes: dict[str, StepNode], problems: list[str], report) -> bool:
    color: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> bool:
        color[name] = 1
        for target in nodes[name].out:
            if target == name and nodes[name].switch:
                continue  # a recursive switch: the step runs again, as a new task
            if color.get(target) == 1:
                cycle = " -> ".join(path[path.index(target) :] + [target])
                report(
                    nodes[name],
                    f"transitions form a cycle ({cycle}); flows must be acyclic",
                    nodes[name].next_line,
                )
                return True
            if color.get(target) is None and visit(target, path + [target]):
                return True
        color[name] = 2
        return False

    return visit("start", ["start"]) if "start" in nodes else False


def _reachable(nodes: dict[str, StepNode]) -> set[str]:
    seen = {"start"}
    queue = deque(["start"])
    while queue:
        for target in nodes[queue.popleft()].out:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def _check_balance(nodes: dict[str, StepNode], reachable: set[str], report) -> None:
    """Give every step the stack of splits it is inside; joins must close the innermost one."""
    parents = {n: [p for p in nodes[n].parents if p in reachable and p != n] for n in reachable}
    indegree = {n: len(parents[n]) for n in reachable}
    incoming: dict[str, list[tuple]] = {n: [] for n in reachable}
    stacks: dict[str, tuple] = {}
    queue = deque(["start"])
    incoming["start"].append(())
    while queue:
        name = queue.popleft()
        node = nodes[name]
        stack = _resolve(node, incoming[name], nodes, report)
        if stack is None:
            return
        stacks[name] = stack
        for i, target in enumerate(node.out):
            if target == name:
                continue  # a recursive switch's loop back to itself
            if len(node.out) > 1 and not node.switch:
                child = stack + ((name, i),)
            elif node.foreach:
                child = stack + ((name, 0),)
            else:
                child = stack
            incoming[target].append(child)
            indegree[target] -= 1
            if indegree[target] == 0:
                queue.append(target)
    end = nodes.get("end")
    if end is not None and stacks.get("end"):
        report(
            end,
            f"the end step is reached inside split '{stacks['end'][-1][0]}' that is never joined",
        )


def _resolve(
    node: StepNode, stacks: list[tuple], nodes: dict[str, StepNode], report
) -> tuple | None:
    if node.is_join:
        if any(not s for s in stacks):
            report(
                node,
                "step takes `inputs` (a join) but no split comes before it; "
                "define it as def %s(self)" % node.name,
            )
            return None
        splits = {s[-1][0] for s in stacks}
        outers = {s[:-1] for s in stacks}
        if len(splits) > 1 or len(outers) > 1:
            report(
                node,
                "join step joins branches of different splits (%s)" % ", ".join(sorted(splits)),
            )
            return None
        split = splits.pop()
        branches = {s[-1][1] for s in stacks}
        expected = {0} if nodes[split].foreach else set(range(len(nodes[split].out)))
        if branches != expected:
            missing = [nodes[split].out[i] for i in sorted(expected - branches)]
            report(
                node,
                f"join does not receive every branch of split '{split}' "
                f"(missing: {', '.join(missing)})",
            )
            return None
        return outers.pop()  # ``closes`` was set when the graph was built (rayflow._graph)
    distinct = set(stacks)
    if len(distinct) > 1:
        tops = {s[-1][0] for s in stacks if s}
        if len(tops) == 1 and len({len(s) for s in stacks}) == 1:
            report(
                node,
                f"{len(stacks)} branches of split '{tops.pop()}' meet here, so this step "
                f"must be a join: def {node.name}(self, inputs)",
            )
        else:
            report(node, "branches from different splits meet at this step")
        return None
    return distinct.pop() if distinct else ()
