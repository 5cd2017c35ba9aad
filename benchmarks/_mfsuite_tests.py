"""Reading Metaflow's test classes (``test/core/tests/*.py``) with ``ast``, not importing them: a
module rayflow lacks then fails the pair that needs it, not the whole runner. Part of
``benchmarks/metaflow_suite.py``."""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from typing import Any

# Test-only hooks of Metaflow's extension mechanism (its test_org extension package), which
# rayflow does not have; pairs using them are reported as "left out".
EXTENSION_ONLY = (
    "test_step_decorator",
    "test_flow_decorator",
    "unbounded_test_foreach_internal",
    "metaflow_extensions",
    # card types defined only in that package (test_org's plugins/cards, card_via_extinit)
    "editable_import_test_card",
    "card_ext_init_a",
)


# --- reading the test classes --------------------------------------------------------------------
@dataclass
class StepMethod:
    name: str
    prio: int
    quals: set[str]
    required: bool
    tags: list[str]
    body: list[str]


@dataclass
class TestClass:
    name: str
    attrs: dict[str, Any]
    steps: list[StepMethod]
    check_body: list[str]
    uses_extension: bool = False

    def get(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)


def _body_lines(source_lines: list[str], fn: ast.FunctionDef) -> list[str]:
    first = fn.body[0]
    # A docstring-only body still needs its lines; start at the first statement.
    lines = source_lines[first.lineno - 1 : fn.end_lineno]
    indent = len(lines[0]) - len(lines[0].lstrip())
    return [ln[indent:].rstrip() for ln in lines]


def read_tests(tests_dir: str) -> list[TestClass]:
    out = []
    for fname in sorted(os.listdir(tests_dir)):
        if not fname.endswith(".py") or fname.startswith("."):
            continue
        text = open(os.path.join(tests_dir, fname), encoding="utf-8").read()
        lines = text.splitlines()
        tree = ast.parse(text)
        uses_ext = any(word in text for word in EXTENSION_ONLY)
        module_vars = _literal_assigns(tree.body)
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            if not any(isinstance(b, ast.Name) and b.id == "MetaflowTest" for b in node.bases):
                continue
            attrs: dict[str, Any] = {}
            steps: list[StepMethod] = []
            check_body: list[str] = ["return False"]
            for item in node.body:
                if (
                    isinstance(item, ast.Assign)
                    and len(item.targets) == 1
                    and isinstance(item.targets[0], ast.Name)
                ):
                    try:
                        attrs[item.targets[0].id] = ast.literal_eval(item.value)
                    except ValueError:
                        pass
                elif isinstance(item, ast.FunctionDef):
                    if item.name == "check_results":
                        check_body = _body_lines(lines, item)
                        continue
                    meta = _step_meta(item, module_vars)
                    if meta is not None:
                        prio, quals, required, tags = meta
                        steps.append(
                            StepMethod(
                                item.name, prio, quals, required, tags, _body_lines(lines, item)
                            )
                        )
            steps.sort(key=lambda s: s.prio)
            out.append(TestClass(node.name, attrs, steps, check_body, uses_ext))
    return out


def _literal_assigns(body: list[ast.stmt]) -> dict[str, Any]:
    found = {}
    for item in body:
        if (
            isinstance(item, ast.Assign)
            and len(item.targets) == 1
            and isinstance(item.targets[0], ast.Name)
        ):
            try:
                found[item.targets[0].id] = ast.literal_eval(item.value)
            except ValueError:
                pass
    return found


def _value(node: ast.expr, names: dict[str, Any]) -> Any:
    """A decorator argument: a literal, or an expression over the module's literal constants."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        return eval(
            compile(ast.Expression(node), "<test>", "eval"),
            {"__builtins__": {"repr": repr}},
            dict(names),
        )


def _step_meta(
    fn: ast.FunctionDef, names: dict[str, Any]
) -> tuple[int, set[str], bool, list[str]] | None:
    prio = None
    quals: set[str] = set()
    required = False
    tags: list[str] = []
    for deco in fn.decorator_list:
        if not isinstance(deco, ast.Call) or not isinstance(deco.func, ast.Name):
            continue
        args = [_value(a, names) for a in deco.args]
        kwargs = {k.arg: _value(k.value, names) for k in deco.keywords}
        if deco.func.id == "steps":
            prio, quals = args[0], set(args[1])
            required = bool(args[2] if len(args) > 2 else kwargs.get("required", False))
        elif deco.func.id == "tag":
            tags.append(args[0])
    if prio is None:
        return None
    return prio, quals, required, list(reversed(tags))  # decorators apply bottom-up
