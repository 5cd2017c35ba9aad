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
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._common import RESULTS
from ._mfsuite_generate import generate
from ._mfsuite_imports import stage_helpers
from ._mfsuite_run import Outcome, run_pair
from ._mfsuite_tests import TestClass, read_tests

CONTEXT = "python3-all-local"


# --- the whole suite ------------------------------------------------------------------------------
def core_dir(source: str) -> str:
    for candidate in (source, os.path.join(source, "test", "core")):
        if os.path.isdir(os.path.join(candidate, "graphs")) and os.path.isdir(
            os.path.join(candidate, "tests")
        ):
            return candidate
    raise SystemExit(f"--source {source}: no Metaflow test/core there (want graphs/ and tests/)")


def summarize(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    by_class: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_class[o.test].append(o)
    rows = []
    for name in sorted(by_class):
        items = by_class[name]
        if all(o.status == "left out" for o in items):
            rows.append(
                {
                    "test": name,
                    "pairs": len(items),
                    "passed": 0,
                    "status": "left out",
                    "first error": items[0].error,
                }
            )
            continue
        passed = sum(o.status == "pass" for o in items)
        fails = [o for o in items if o.status == "fail"]
        rows.append(
            {
                "test": name,
                "pairs": len(items),
                "passed": passed,
                "status": "pass" if not fails else "fail",
                "first error": f"[{fails[0].graph}/{fails[0].stage}] {fails[0].error}"
                if fails
                else "",
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| test class | pairs | passed | result | first error |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        err = r["first error"].replace("|", "\\|")
        out.append(f"| {r['test']} | {r['pairs']} | {r['passed']} | {r['status']} | {err} |")
    return "\n".join(out)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks metaflow_suite", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--source", required=True, help="a Metaflow checkout (or its test/core folder)")
    p.add_argument("--tests", default="", help="comma-separated test classes (default: all)")
    p.add_argument("--graphs", default="", help="comma-separated graph names (default: all)")
    p.add_argument("--parallel", type=int, default=2, help="pairs at a time (at most 2)")
    p.add_argument("--timeout", type=float, default=300, help="seconds per pair, run+resume+checks")
    p.add_argument("--keep", action="store_true", help="keep the folders of failing pairs")
    p.add_argument(
        "--pythonpath",
        default="",
        help="put this first on the flows' PYTHONPATH (e.g. a "
        "snapshot of rayflow, so editing the checkout does not change a running suite)",
    )
    p.add_argument(
        "--update",
        action="store_true",
        help="re-run only the chosen tests/graphs and "
        "replace their pairs in an earlier results/NAME.json (the rest is kept as it was)",
    )
    p.add_argument("--name", default="metaflow_suite", help="results/NAME.json")
    return p


def _with_earlier(outcomes: list[Outcome], path: str) -> list[Outcome]:
    """``--update``: the pairs of the earlier results not re-run now, then the new ones."""
    done = {(o.test, o.graph) for o in outcomes}
    kept = [
        Outcome(**{k: v for k, v in p.items() if k in Outcome.__dataclass_fields__})
        for p in json.load(open(path))["pairs"]
        if (p["test"], p["graph"]) not in done
    ]
    return kept + outcomes


def _write_results(
    path: str,
    name: str,
    summary: str,
    rows: list[dict[str, Any]],
    table: str,
    outcomes: list[Outcome],
) -> None:
    """results/NAME.json (every pair) and results/NAME.md (the table and the summary)."""
    os.makedirs(RESULTS, exist_ok=True)
    with open(path, "w") as f:
        json.dump(
            {"summary": summary, "classes": rows, "pairs": [o.__dict__ for o in outcomes]},
            f,
            indent=1,
        )
    with open(os.path.join(RESULTS, f"{name}.md"), "w") as f:
        f.write(table + "\n\n" + summary + "\n")


def _select(
    core: str, tests_arg: str, graphs_arg: str
) -> tuple[dict, list[TestClass], list[tuple[TestClass, dict]]]:
    """The context, the chosen test classes, and the (test, graph) pairs that apply, in the
    tests' priority order."""
    ctx = next(
        c
        for c in json.load(open(os.path.join(core, "contexts.json")))["contexts"]
        if c["name"] == CONTEXT
    )
    graphs = [
        json.load(open(os.path.join(core, "graphs", g)))
        for g in sorted(os.listdir(os.path.join(core, "graphs")))
        if g.endswith(".json")
    ]
    wanted_tests = {t.lower() for t in tests_arg.split(",") if t}
    wanted_graphs = {g.lower() for g in graphs_arg.split(",") if g}
    tests = [
        t
        for t in read_tests(os.path.join(core, "tests"))
        if t.name not in ctx.get("disabled_tests", [])
        and (not wanted_tests or t.name.lower() in wanted_tests)
    ]
    pairs = [
        (t, g)
        for t in sorted(tests, key=lambda t: t.get("PRIORITY", 999999999))
        for g in graphs
        if (not wanted_graphs or g["name"].lower() in wanted_graphs) and generate(g, t)
    ]
    return ctx, tests, pairs


def cli(argv: list[str]) -> int:
    a = _parser().parse_args(argv)
    core = core_dir(a.source)
    ctx, tests, pairs = _select(core, a.tests, a.graphs)
    stage_dir = tempfile.mkdtemp(prefix="mfs_stage_")
    stage_helpers(core, stage_dir)
    print(
        f"{len(pairs)} applicable (graph, test) pairs of {len(tests)} test classes; "
        f"parallel {min(2, a.parallel)}, timeout {a.timeout:.0f} s each",
        flush=True,
    )
    outcomes: list[Outcome] = []
    started = time.monotonic()

    def one(pair: tuple[TestClass, dict]) -> Outcome:
        test, graph = pair
        if test.uses_extension:
            return Outcome(
                test.name,
                graph["name"],
                "left out",
                error="needs Metaflow's test extension package (test_org hooks)",
            )
        o = run_pair(
            test,
            graph,
            ctx,
            stage_dir,
            os.path.join(core, "tests"),
            a.timeout,
            a.keep,
            [a.pythonpath] if a.pythonpath else [],
        )
        print(
            f"{o.status:>8}  {o.test} / {o.graph}  {o.seconds:.0f}s  "
            f"{('[' + o.stage + '] ' + o.error) if o.status != 'pass' else ''}"
            f"{'  ' + o.stages['dir'] if 'dir' in o.stages else ''}",
            flush=True,
        )
        return o

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(2, a.parallel))) as pool:
            outcomes = list(pool.map(one, pairs))
    finally:
        shutil.rmtree(stage_dir, ignore_errors=True)
    path = os.path.join(RESULTS, f"{a.name}.json")
    if a.update and os.path.exists(path):
        outcomes = _with_earlier(outcomes, path)
    rows = summarize(outcomes)
    table = print_table(rows)
    n_pass = sum(o.status == "pass" for o in outcomes)
    n_run = sum(o.status != "left out" for o in outcomes)
    classes_pass = sum(r["status"] == "pass" for r in rows)
    classes_run = sum(r["status"] != "left out" for r in rows)
    summary = (
        f"pairs passed: {n_pass}/{n_run} (left out: {len(outcomes) - n_run}); test classes passing "
        f"on every graph: {classes_pass}/{classes_run}; {time.monotonic() - started:.0f} s"
    )
    print("\n" + table + "\n\n" + summary)
    _write_results(path, a.name, summary, rows, table, outcomes)
    return 0
