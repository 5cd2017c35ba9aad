"""Our own generator of a (graph, test) pair's flow and checker, following the graph JSON. Part of
``benchmarks/metaflow_suite.py``."""

from __future__ import annotations

import re

from ._mfsuite_imports import FLOW_NAMES, TEST_HELPERS, rewrite_imports
from ._mfsuite_tests import TestClass


# --- generating a flow and its checker (our own generator, following the graph JSON) --------------
def _node_quals(name: str, node: dict) -> set[str]:
    quals = {"all", *node.get("quals", [])}
    if name in ("start", "end"):
        quals.add(name)
    for key, qual in (
        ("join", "join"),
        ("parallel_step", "parallel-step"),
        ("linear", "linear"),
        ("switch", "switch-step"),
    ):
        if key in node:
            quals.add(qual)
    return quals


def generate(graph: dict, test: TestClass) -> tuple[str, str, str] | None:
    """(flow_name, flow code, check code), or None when the pair does not apply."""
    gname = graph.get("name", "")
    if gname in test.get("SKIP_GRAPHS", []) or (
        test.get("ONLY_GRAPHS") and gname not in test.get("ONLY_GRAPHS")
    ):
        return None
    flow_name = f"{test.name}Flow"
    used: set[str] = set()
    body: list[tuple[int, str]] = [(0, f"class {flow_name}(FlowSpec):")]
    for var, val in test.get("CLASS_VARS", {}).items():
        body.append((1, f"{var} = {val}"))
    for kind, attr in (
        ("Parameter", "PARAMETERS"),
        ("IncludeFile", "INCLUDE_FILES"),
        ("Config", "CONFIGS"),
    ):
        for var, spec in test.get(attr, {}).items():
            kwargs = ",".join(f"{k}={v}" for k, v in spec.items())
            body.append((1, f'{var} = {kind}("{var}", {kwargs})'))
    for name, node in graph["graph"].items():
        quals = _node_quals(name, node)
        chosen = next((s for s in test.steps if s.quals & quals), None)
        if chosen is None:
            return None
        used.add(chosen.name)
        body += [(1, f"@{t}") for t in chosen.tags]
        if "parallel_step" in node:
            body.append((1, "@parallel"))
        body.append((1, "@step"))
        body.append((1, f"def {name}(self, inputs):" if "join" in node else f"def {name}(self):"))
        if "foreach" in node:
            body.append((2, f"self.{node['foreach_var']} = {node['foreach_var_default']}"))
        body += [(2, ln) for ln in chosen.body]
        if "linear" in node:
            body.append((2, f"self.next(self.{node['linear']})"))
        elif "branch" in node:
            body.append((2, "self.next(%s)" % ", ".join(f"self.{b}" for b in node["branch"])))
        elif "switch" in node:
            cases = ", ".join(f'"{k}": self.{v}' for k, v in node["switch"].items())
            body.append((2, f"self.next({{{cases}}}, condition='{node['condition']}')"))
        elif "foreach" in node:
            body.append((2, f'self.next(self.{node["foreach"]}, foreach="{node["foreach_var"]}")'))
        elif "num_parallel" in node:
            body.append(
                (2, f"self.next(self.{node['parallel']}, num_parallel={node['num_parallel']})")
            )
    if any(s.required and s.name not in used for s in test.steps):
        return None
    body += [(0, "if __name__ == '__main__':"), (1, f"{flow_name}()")]
    code = "\n".join(" " * 4 * i + ln for i, ln in body)
    header = [(0, test.get("HEADER", ""))]
    tag_names = sorted({t.split("(")[0] for s in test.steps for t in s.tags})
    wanted = [n for n in FLOW_NAMES if re.search(rf"\b{n}\b", code + test.get("HEADER", ""))]
    lines = ["# -*- coding: utf-8 -*-"]
    if wanted:
        lines.append(f"from rayflow import {', '.join(wanted)}")
    lines.append(f"from metaflow_test import {', '.join(TEST_HELPERS)}")
    if tag_names:
        lines.append(f"from rayflow import {', '.join(tag_names)}")
    lines += [rewrite_imports(h) for _, h in header]
    flow_code = "\n".join(lines) + "\n" + rewrite_imports(code) + "\n"
    check = [
        "# -*- coding: utf-8 -*-",
        "import sys",
        "from metaflow_test import assert_equals, assert_equals_metadata, assert_exception, new_checker",
        "def check_results(flow, checker):",
    ]
    check += ["    " + ln for ln in test.check_body]
    check += [
        "if __name__ == '__main__':",
        f"    from test_flow import {flow_name}",
        f"    flow = {flow_name}(use_cli=False)",
        "    check = new_checker(flow)",
        "    check_results(flow, check)",
    ]
    return flow_name, flow_code, rewrite_imports("\n".join(check)) + "\n"
