"""From a flow class to a checked plan: build the static graph, lint it, apply ``--with``."""

from __future__ import annotations

import inspect
from typing import Any

from rayflow.scheduler.decorators import attached

from ._configuse import ConfigInput, resolve_plan
from ._configuse import ensure as ensure_configs
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


def plan_for(
    flow_cls: type, with_specs: tuple[str, ...] = (), configs: ConfigInput | None = None
) -> tuple[FlowGraph, dict[str, Any]]:
    """The graph and plan; the flow's Configs are read first (``configs``: the command line's, or
    a resume's stored values), since decorator options may be read from them."""
    from ._parameters import flow_parameters

    ensure_configs(flow_cls, configs)
    graph = checked_graph(flow_cls)
    plan = graph.to_plan([p.attr for p in flow_parameters(flow_cls)])
    resolve_plan(plan, flow_cls)
    extra: list[StepDecorator] = [parse_with(s) for s in with_specs]
    for deco in extra:
        for node in plan.values():
            node["decorators"].setdefault(deco.name, dict(deco.attributes))
    for name, node in plan.items():
        for cls, attrs in attached(node):
            cls.check(attrs, name)
    return graph, plan
