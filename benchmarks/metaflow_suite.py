"""``python -m benchmarks metaflow_suite --source DIR``: Metaflow's own ``test/core`` on rayflow.

Metaflow's core tests combine each test class (``tests/*.py``) with each graph shape it applies to
(``graphs/*.json``) into a flow, run it, and check it through the CLI and the client API. This
runner reads those files from a Metaflow checkout at run time (nothing of Metaflow is kept in this
project), builds each applicable (graph, test) pair for the local context with its own
generator, changes the import lines from ``metaflow`` to ``rayflow``, runs ``python test_flow.py
run`` (and ``resume`` where the test asks), runs both checkers, and prints and saves a table per
test class: pass / fail with the stage and the first error line.

The test files are read with ``ast`` rather than imported, so a module rayflow lacks fails the
pair that needs it (as it would fail a user's flow), not the whole runner.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ._common import RESULTS

CONTEXT = "python3-all-local"
# Names Metaflow's generated flows import; each flow imports only those its code mentions.
FLOW_NAMES = ("Config", "config_expr", "FlowSpec", "step", "Parameter", "project", "IncludeFile",
              "JSONType", "current", "parallel", "FlowMutator", "StepMutator", "UserStepDecorator",
              "user_step_decorator")
TEST_HELPERS = ("assert_equals", "assert_equals_metadata", "assert_exception", "ExpectationFailed",
                "is_resumed", "ResumeFromHere", "TestRetry", "try_to_get_card")
# Test-only hooks of Metaflow's extension mechanism (its test_org extension package), which
# rayflow does not have; pairs using them are reported as "left out".
EXTENSION_ONLY = ("test_step_decorator", "test_flow_decorator", "unbounded_test_foreach_internal",
                  "metaflow_extensions",
                  # card types defined only in that package (test_org's plugins/cards, card_via_extinit)
                  "editable_import_test_card", "card_ext_init_a")
_IMPORT = re.compile(r"^(\s*(?:from|import)\s+)metaflow(?=[\s.,]|$)", re.M)
# Metaflow-internal modules the checkers import (not paths users import): mapped to rayflow's
# public module for the same thing, or to a few lines this runner writes beside the checkers.
INTERNAL = {
    "metaflow.plugins.cards.exception": "rayflow.cards",
    "metaflow.plugins.cards.card_modules.test_cards": "rayflow.cards._testcards",
    "metaflow.util": "metaflow_suite_compat",
    "metaflow.includefile": "metaflow_suite_compat",
}
COMPAT = '''"""Stand-ins for Metaflow internals the checkers use (written by benchmarks/metaflow_suite.py)."""
def is_stringish(x):
    return isinstance(x, (str, bytes, bytearray))
try:
    from rayflow import IncludedFile
except ImportError:
    class IncludedFile:  # rayflow hands an IncludeFile's contents over as str/bytes
        pass
'''


def rewrite_imports(text: str) -> str:
    """``from metaflow... import`` / ``import metaflow...`` -> rayflow (``metaflow_test`` stays)."""
    for internal, mapped in INTERNAL.items():
        text = re.sub(rf"^(\s*from\s+){re.escape(internal)}(?=\s)", rf"\g<1>{mapped}", text, flags=re.M)
    return _IMPORT.sub(r"\1rayflow", text)


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
    lines = source_lines[first.lineno - 1:fn.end_lineno]
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
                if isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name):
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
                        steps.append(StepMethod(item.name, prio, quals, required, tags, _body_lines(lines, item)))
            steps.sort(key=lambda s: s.prio)
            out.append(TestClass(node.name, attrs, steps, check_body, uses_ext))
    return out


def _literal_assigns(body: list[ast.stmt]) -> dict[str, Any]:
    found = {}
    for item in body:
        if isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name):
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
        return eval(compile(ast.Expression(node), "<test>", "eval"), {"__builtins__": {"repr": repr}}, dict(names))


def _step_meta(fn: ast.FunctionDef, names: dict[str, Any]) -> tuple[int, set[str], bool, list[str]] | None:
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


# --- generating a flow and its checker (our own generator, following the graph JSON) --------------
def _node_quals(name: str, node: dict) -> set[str]:
    quals = {"all", *node.get("quals", [])}
    if name in ("start", "end"):
        quals.add(name)
    for key, qual in (("join", "join"), ("parallel_step", "parallel-step"), ("linear", "linear"),
                      ("switch", "switch-step")):
        if key in node:
            quals.add(qual)
    return quals


def generate(graph: dict, test: TestClass) -> tuple[str, str, str] | None:
    """(flow_name, flow code, check code), or None when the pair does not apply."""
    gname = graph.get("name", "")
    if gname in test.get("SKIP_GRAPHS", []) or (test.get("ONLY_GRAPHS") and gname not in test.get("ONLY_GRAPHS")):
        return None
    flow_name = f"{test.name}Flow"
    used: set[str] = set()
    body: list[tuple[int, str]] = [(0, f"class {flow_name}(FlowSpec):")]
    for var, val in test.get("CLASS_VARS", {}).items():
        body.append((1, f"{var} = {val}"))
    for kind, attr in (("Parameter", "PARAMETERS"), ("IncludeFile", "INCLUDE_FILES"), ("Config", "CONFIGS")):
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
            body.append((2, f"self.next(self.{node['parallel']}, num_parallel={node['num_parallel']})"))
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
    check = ["# -*- coding: utf-8 -*-", "import sys",
             "from metaflow_test import assert_equals, assert_equals_metadata, assert_exception, new_checker",
             "def check_results(flow, checker):"]
    check += ["    " + ln for ln in test.check_body]
    check += ["if __name__ == '__main__':", f"    from test_flow import {flow_name}",
              f"    flow = {flow_name}(use_cli=False)", "    check = new_checker(flow)",
              "    check_results(flow, check)"]
    return flow_name, flow_code, rewrite_imports("\n".join(check)) + "\n"


# --- running one pair ----------------------------------------------------------------------------
@dataclass
class Outcome:
    test: str
    graph: str
    status: str  # pass | fail | left out
    stage: str = ""
    error: str = ""
    seconds: float = 0.0
    stages: dict[str, str] = field(default_factory=dict)


_TASK_PREFIX = re.compile(r"^\[[^\]/ ]+/[^\] ]+\] ?", re.M)


def first_error_line(out: str, err: str) -> str:
    """The exception line of the first traceback (a task's lines lose their ``[step/id]``),
    else the first line that reads like an error."""
    err, out = _TASK_PREFIX.sub("", err or ""), _TASK_PREFIX.sub("", out or "")
    text = err + "\n" + out
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if "Traceback (most recent call last)" in err:
        tb = err.split("Traceback (most recent call last)")[1].splitlines()[1:]
        exc = [ln for ln in tb if ln and not ln.startswith(" ") and ":" in ln]
        if exc:
            return exc[0].strip()[:300]
    for ln in lines:
        if re.search(r"error|fail|exception|not found|no such", ln, re.I):
            return ln[:300]
    return (lines[-1] if lines else "(no output)")[:300]


def run_pair(test: TestClass, graph: dict, ctx: dict, stage_dir: str, tests_dir: str,
             timeout: float, keep: bool, extra_path: list[str]) -> Outcome:
    gname = graph["name"]
    started = time.monotonic()
    generated = generate(graph, test)
    assert generated is not None
    flow_name, flow_code, check_code = generated
    tmp = tempfile.mkdtemp(prefix=f"mfs_{test.name}_{gname}_")
    result = Outcome(test.name, gname, "fail")
    try:
        with open(os.path.join(tmp, "test_flow.py"), "w") as f:
            f.write(flow_code)
        with open(os.path.join(tmp, "check_flow.py"), "w") as f:
            f.write(check_code)
        shutil.copytree(os.path.join(stage_dir, "metaflow_test"), os.path.join(tmp, "metaflow_test"))
        shutil.copy2(os.path.join(stage_dir, "metaflow_suite_compat.py"), tmp)
        for name in test.get("REQUIRED_FILES", []):
            shutil.copy2(os.path.join(tests_dir, name), os.path.join(tmp, name))
        env = {k: os.environ[k] for k in ("HOME", "PATH", "RAY_TMPDIR", "USER", "TMPDIR") if k in os.environ}
        env.update({k: v.format(nonce=os.path.basename(tmp)) for k, v in ctx["env"].items()})
        env.update({"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf_8",
                    "PYTHONPATH": ":".join([*extra_path, tmp]), "RAYFLOW_DATASTORE": os.path.join(tmp, ".rayflow")})
        py = sys.executable
        deadline = started + timeout

        def call(cmd: list[str]) -> subprocess.CompletedProcess:
            left = max(5.0, deadline - time.monotonic())
            try:
                return subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True,
                                      timeout=left, errors="replace")
            except subprocess.TimeoutExpired as exc:
                out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
                return subprocess.CompletedProcess(cmd, -999, out, f"timed out after {timeout:.0f} s")

        def flow_cmd(mode: str, extra: list[str] | None = None) -> list[str]:
            return [py, "-B", "test_flow.py", *ctx["top_options"], mode, *(extra or []),
                    "--run-id-file", "run-id", *ctx["run_options"]]

        def fail(stage: str, proc: subprocess.CompletedProcess) -> Outcome:
            result.stage = stage
            result.error = first_error_line(proc.stdout, proc.stderr)
            with open(os.path.join(tmp, f"{stage}.log"), "w") as f:
                f.write(f"$ {' '.join(proc.args)}\nexit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
            return result

        proc = call(flow_cmd("run"))
        if proc.returncode == -999:
            return fail("run", proc)
        if proc.returncode:
            if test.get("SHOULD_FAIL"):
                pass
            elif test.get("RESUME"):
                step = [test.get("RESUME_STEP")] if test.get("RESUME_STEP") else []
                proc = call(flow_cmd("resume", step))
                if proc.returncode:
                    return fail("resume", proc)
            else:
                return fail("run", proc)
        elif test.get("SHOULD_FAIL"):
            proc.stderr += "\nthe flow should have failed but it did not"
            return fail("run", proc)
        elif test.get("RESUME"):
            proc.stderr += "\nthe run should have failed (for resume) but it did not"
            return fail("run", proc)
        try:
            run_id = open(os.path.join(tmp, "run-id")).read()
        except OSError:
            proc.stderr += "\nno run-id file was written (--run-id-file)"
            return fail("run", proc)
        failed = None
        for check in ("CliCheck", "MetadataCheck"):
            proc = call([py, "check_flow.py", check, run_id, *ctx["top_options"]])
            stage = "cli" if check == "CliCheck" else "client"
            result.stages[stage] = "ok" if proc.returncode == 0 else first_error_line(proc.stdout, proc.stderr)
            if proc.returncode and failed is None:
                failed = fail(stage, proc)
        if failed is not None:
            return failed
        result.status = "pass"
        return result
    finally:
        result.seconds = round(time.monotonic() - started, 1)
        if keep and result.status != "pass":
            result.stages["dir"] = tmp
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# --- the whole suite ------------------------------------------------------------------------------
def core_dir(source: str) -> str:
    for candidate in (source, os.path.join(source, "test", "core")):
        if os.path.isdir(os.path.join(candidate, "graphs")) and os.path.isdir(os.path.join(candidate, "tests")):
            return candidate
    raise SystemExit(f"--source {source}: no Metaflow test/core there (want graphs/ and tests/)")


def stage_helpers(core: str, stage_dir: str) -> None:
    """Copy ``metaflow_test`` (the checkers) with its import lines changed to rayflow."""
    src = os.path.join(core, "metaflow_test")
    dst = os.path.join(stage_dir, "metaflow_test")
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(stage_dir, "metaflow_suite_compat.py"), "w") as f:
        f.write(COMPAT)
    for name in os.listdir(src):
        if name.endswith(".py"):
            text = open(os.path.join(src, name), encoding="utf-8").read()
            with open(os.path.join(dst, name), "w", encoding="utf-8") as f:
                f.write(rewrite_imports(text))


def summarize(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    by_class: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_class[o.test].append(o)
    rows = []
    for name in sorted(by_class):
        items = by_class[name]
        if all(o.status == "left out" for o in items):
            rows.append({"test": name, "pairs": len(items), "passed": 0, "status": "left out",
                         "first error": items[0].error})
            continue
        passed = sum(o.status == "pass" for o in items)
        fails = [o for o in items if o.status == "fail"]
        rows.append({"test": name, "pairs": len(items), "passed": passed,
                     "status": "pass" if not fails else "fail",
                     "first error": f"[{fails[0].graph}/{fails[0].stage}] {fails[0].error}" if fails else ""})
    return rows


def print_table(rows: list[dict[str, Any]]) -> str:
    out = ["| test class | pairs | passed | result | first error |", "| --- | ---: | ---: | --- | --- |"]
    for r in rows:
        err = r["first error"].replace("|", "\\|")
        out.append(f"| {r['test']} | {r['pairs']} | {r['passed']} | {r['status']} | {err} |")
    return "\n".join(out)


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks metaflow_suite", description=__doc__.split("\n\n")[0])
    p.add_argument("--source", required=True, help="a Metaflow checkout (or its test/core folder)")
    p.add_argument("--tests", default="", help="comma-separated test classes (default: all)")
    p.add_argument("--graphs", default="", help="comma-separated graph names (default: all)")
    p.add_argument("--parallel", type=int, default=2, help="pairs at a time (at most 2)")
    p.add_argument("--timeout", type=float, default=300, help="seconds per pair, run+resume+checks")
    p.add_argument("--keep", action="store_true", help="keep the folders of failing pairs")
    p.add_argument("--pythonpath", default="", help="put this first on the flows' PYTHONPATH (e.g. a "
                   "snapshot of rayflow, so editing the checkout does not change a running suite)")
    p.add_argument("--update", action="store_true", help="re-run only the chosen tests/graphs and "
                   "replace their pairs in an earlier results/NAME.json (the rest is kept as it was)")
    p.add_argument("--name", default="metaflow_suite", help="results/NAME.json")
    a = p.parse_args(argv)
    core = core_dir(a.source)
    ctx = next(c for c in json.load(open(os.path.join(core, "contexts.json")))["contexts"] if c["name"] == CONTEXT)
    graphs = [json.load(open(os.path.join(core, "graphs", g))) for g in sorted(os.listdir(os.path.join(core, "graphs")))
              if g.endswith(".json")]
    wanted_tests = {t.lower() for t in a.tests.split(",") if t}
    wanted_graphs = {g.lower() for g in a.graphs.split(",") if g}
    tests = [t for t in read_tests(os.path.join(core, "tests"))
             if t.name not in ctx.get("disabled_tests", []) and (not wanted_tests or t.name.lower() in wanted_tests)]
    stage_dir = tempfile.mkdtemp(prefix="mfs_stage_")
    stage_helpers(core, stage_dir)
    pairs = [(t, g) for t in sorted(tests, key=lambda t: t.get("PRIORITY", 999999999))
             for g in graphs if (not wanted_graphs or g["name"].lower() in wanted_graphs) and generate(g, t)]
    print(f"{len(pairs)} applicable (graph, test) pairs of {len(tests)} test classes; "
          f"parallel {min(2, a.parallel)}, timeout {a.timeout:.0f} s each", flush=True)
    outcomes: list[Outcome] = []
    started = time.monotonic()

    def one(pair: tuple[TestClass, dict]) -> Outcome:
        test, graph = pair
        if test.uses_extension:
            return Outcome(test.name, graph["name"], "left out",
                           error="needs Metaflow's test extension package (test_org hooks)")
        o = run_pair(test, graph, ctx, stage_dir, os.path.join(core, "tests"), a.timeout, a.keep,
                     [a.pythonpath] if a.pythonpath else [])
        print(f"{o.status:>8}  {o.test} / {o.graph}  {o.seconds:.0f}s  "
              f"{('[' + o.stage + '] ' + o.error) if o.status != 'pass' else ''}"
              f"{'  ' + o.stages['dir'] if 'dir' in o.stages else ''}", flush=True)
        return o

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(2, a.parallel))) as pool:
            outcomes = list(pool.map(one, pairs))
    finally:
        shutil.rmtree(stage_dir, ignore_errors=True)
    path = os.path.join(RESULTS, f"{a.name}.json")
    if a.update and os.path.exists(path):
        done = {(o.test, o.graph) for o in outcomes}
        kept = [Outcome(**{k: v for k, v in p.items() if k in Outcome.__dataclass_fields__})
                for p in json.load(open(path))["pairs"] if (p["test"], p["graph"]) not in done]
        outcomes = kept + outcomes
    rows = summarize(outcomes)
    table = print_table(rows)
    n_pass = sum(o.status == "pass" for o in outcomes)
    n_run = sum(o.status != "left out" for o in outcomes)
    classes_pass = sum(r["status"] == "pass" for r in rows)
    classes_run = sum(r["status"] != "left out" for r in rows)
    summary = (f"pairs passed: {n_pass}/{n_run} (left out: {len(outcomes) - n_run}); test classes passing "
               f"on every graph: {classes_pass}/{classes_run}; {time.monotonic() - started:.0f} s")
    print("\n" + table + "\n\n" + summary)
    os.makedirs(RESULTS, exist_ok=True)
    with open(path, "w") as f:
        json.dump({"summary": summary, "classes": rows,
                   "pairs": [o.__dict__ for o in outcomes]}, f, indent=1)
    with open(os.path.join(RESULTS, f"{a.name}.md"), "w") as f:
        f.write(table + "\n\n" + summary + "\n")
    return 0
