"""From a flow class to a checked plan: build the static graph, lint it, apply ``--with``."""

from __future__ import annotations

import inspect
from typing import Any

from ._decorators import StepDecorator, parse_with
from ._errors import LintError
from ._graph import FlowGraph, build_graph
from ._lint import lint


def checked_graph(flow_cls: type) -> FlowGraph:
    graph = build_graph(flow_cls)
    try:
        class_line = inspect.getsourcelines(flow_cls)[1]
    except (OSError, TypeError):
        class_line = 1
    problems = lint(graph, class_line)
    if problems:
        raise LintError(problems)
    return graph


def plan_for(flow_cls: type, with_specs: tuple[str, ...] = ()) -> tuple[FlowGraph, dict[str, Any]]:
    from ._parameters import flow_parameters

    graph = checked_graph(flow_cls)
    plan = graph.to_plan([p.attr for p in flow_parameters(flow_cls)])
    extra: list[StepDecorator] = [parse_with(s) for s in with_specs]
    for deco in extra:
        for node in plan.values():
            node["decorators"].setdefault(deco.name, dict(deco.attributes))
    return graph, plan
