"""What the ``@cache`` key covers: never a stale hit, still a hit when nothing changed.

Each reproduction runs a real flow twice: the second run changes one thing the cached step can
see (a parameter read indirectly, a helper's source, a local module) and must recompute.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

# ``python -m rayflow.cli``: the interpreter running the tests, so the code under test.
RAYFLOW = [sys.executable, "-m", "rayflow.cli"]

INDIRECT = """
from rayflow import FlowSpec, Parameter, cache, step


def use(flow):
    return flow.alpha * 2


class IndirectFlow(FlowSpec):
    alpha = Parameter("alpha", default=1)
    other = Parameter("other", default="a")

    @property
    def doubled(self):
        return self.alpha * 2

    def helper(self):
        return self.alpha * 2

    @cache
    @step
    def start(self):
        BODY
        self.next(self.end)

    @step
    def end(self):
        pass
"""

# Each body reads `alpha` without a plain `self.alpha` in the step's own source.
INDIRECT_READS = {
    "passed_to_a_function": "self.out = use(self)",
    "getattr": 'self.out = getattr(self, "alpha") * 2',
    "vars": 'self.out = vars(self)["_rf"].param("alpha") * 2',
    "dunder_dict": 'self.out = self.__dict__["_rf"].param("alpha") * 2',
    "assigned_to_another_name": "flow = self\n        self.out = flow.alpha * 2",
    "lambda": "self.out = (lambda: use(self))()",
    "closure": "def inner():\n            return self.alpha * 2\n        self.out = inner()",
    "property": "self.out = self.doubled",
    "method_call": "self.out = self.helper()",
    "bound_method_passed_on": "self.out = (lambda f: f())(self.helper)",
}


@pytest.mark.parametrize("body", INDIRECT_READS.values(), ids=list(INDIRECT_READS))
def test_a_parameter_read_indirectly_reruns_the_step_when_it_changes(run_flow, write_flow, body):
    flow = write_flow(INDIRECT.replace("BODY", body), "indirect.py")
    first = run_flow(flow, alpha=1)
    assert first.run["start"].task.data.out == 2
    second = run_flow(flow, alpha=5)
    assert second.cached == []
    assert second.run["start"].task.data.out == 10


def test_an_unchanged_flow_still_hits_even_when_self_escapes(run_flow, write_flow):
    flow = write_flow(INDIRECT.replace("BODY", INDIRECT_READS["passed_to_a_function"]), "same.py")
    run_flow(flow, alpha=3)
    again = run_flow(flow, alpha=3)
    assert again.cached == [("start", "0")]
    assert again.run["start"].task.data.out == 6


JOIN = """
from rayflow import FlowSpec, Parameter, cache, step


class JoinFlow(FlowSpec):
    alpha = Parameter("alpha", default=1)

    @step
    def start(self):
        self.next(self.left, self.right)

    @step
    def left(self):
        self.x = 1
        self.next(self.join)

    @step
    def right(self):
        self.x = 2
        self.next(self.join)

    @cache
    @step
    def join(self, inputs):
        BODY
        self.next(self.end)

    @step
    def end(self):
        pass
"""

JOIN_READS = {
    "through_a_named_input": "self.out = inputs.left.alpha + inputs.right.x",
    "through_a_loop_variable": "self.out = sum(i.alpha * i.x for i in inputs)",
    "inputs_passed_to_a_function": "self.out = max(inputs, key=lambda i: i.x).alpha",
}


@pytest.mark.parametrize("body", JOIN_READS.values(), ids=list(JOIN_READS))
def test_a_join_reading_a_parameter_through_its_inputs_reruns_when_it_changes(
    run_flow, write_flow, body
):
    flow = write_flow(JOIN.replace("BODY", body), "joined.py")
    first = run_flow(flow, alpha=1)
    second = run_flow(flow, alpha=5)
    assert second.cached == []
    assert second.run["join"].task.data.out != first.run["join"].task.data.out


HELPER = """
from rayflow import FlowSpec, Parameter, cache, step


def scale(x):
    return x * 10


class HelperFlow(FlowSpec):
    @cache
    @step
    def start(self):
        self.out = scale(3)
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def test_editing_a_module_level_helper_in_the_flow_file_reruns_the_step(run_flow, write_flow):
    flow = write_flow(HELPER, "helper.py")
    assert run_flow(flow).run["start"].task.data.out == 30
    assert run_flow(flow).cached == [("start", "0")]  # unchanged: a hit
    write_flow(HELPER.replace("return x * 10", "return x * 100"), "helper.py")
    edited = run_flow(flow)
    assert edited.cached == []
    assert edited.run["start"].task.data.out == 300


def test_a_user_key_replaces_the_computed_one(run_flow, write_flow):
    source = INDIRECT.replace("BODY", INDIRECT_READS["passed_to_a_function"]).replace(
        "@cache\n", '@cache(key=lambda flow: "fixed")\n'
    )
    flow = write_flow(source, "keyed.py")
    run_flow(flow, alpha=1)
    again = run_flow(flow, alpha=5)  # the user's key says nothing changed: a hit, by request
    assert again.cached == [("start", "0")]
    assert again.run["start"].task.data.out == 2


LOCAL_FLOW = """
from rayflow import FlowSpec, cache, step

import helpers


class LocalFlow(FlowSpec):
    @cache
    @step
    def start(self):
        self.out = helpers.compute(3)
        self.next(self.end)

    @step
    def end(self):
        print("out =", self.out)
"""

LOCAL_HELPERS = """
from mathlib.core import factor


def compute(x):
    return x * factor()
"""


def _run_cli(flow: str, datastore: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, RAYFLOW_DATASTORE=datastore)
    return subprocess.run(
        [*RAYFLOW, "run", flow],
        capture_output=True,
        text=True,
        env=env,
        cwd=os.path.dirname(flow),
        timeout=300,
    )


def test_editing_a_module_imported_from_the_flow_folder_reruns_the_step(tmp_path):
    """flow.py imports helpers.py, which imports mathlib/core.py: an edit two imports away
    (and in a sub-folder) is a miss."""
    (tmp_path / "mathlib").mkdir()
    (tmp_path / "mathlib" / "__init__.py").write_text("")
    core = tmp_path / "mathlib" / "core.py"
    core.write_text("def factor():\n    return 10\n")
    (tmp_path / "helpers.py").write_text(textwrap.dedent(LOCAL_HELPERS))
    flow = tmp_path / "flow.py"
    flow.write_text(textwrap.dedent(LOCAL_FLOW))
    datastore = str(tmp_path / "ds")

    first = _run_cli(str(flow), datastore)
    assert first.returncode == 0, first.stderr
    assert "out = 30" in first.stdout and "from the cache" not in first.stdout
    core.write_text("def factor():\n    return 100\n")
    second = _run_cli(str(flow), datastore)
    assert second.returncode == 0, second.stderr
    assert "out = 300" in second.stdout and "from the cache" not in second.stdout


PLAIN = """
from rayflow import FlowSpec, Parameter, cache, step


class PlainFlow(FlowSpec):
    alpha = Parameter("alpha", default=1)
    beta = Parameter("beta", default=2)
    RATE = 3

    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.v = self.input * self.alpha * self.RATE + self.index
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.v for i in inputs) + len(inputs) + inputs[0].beta
        self.merge_artifacts(inputs, exclude=["v"])
        self.next(self.end)

    @step
    def end(self):
        print(f"{self.total} {[x for x in self.items]}")
"""


def test_plain_reads_key_only_the_parameters_they_name(write_flow):
    """The key stays narrow when every read is visible: changing an unread parameter keeps the
    hit (see test_cache.py); here, which parameters each step's key holds."""
    from rayflow import Runner

    plan = Runner(write_flow(PLAIN, "plain.py")).plan()
    assert plan["start"]["param_refs"] == []
    assert plan["each"]["param_refs"] == ["alpha"]
    assert plan["join"]["param_refs"] == ["beta"]
    assert plan["end"]["param_refs"] == []


def test_a_step_whose_self_escapes_keys_every_parameter(write_flow):
    from rayflow import Runner

    for name, body in INDIRECT_READS.items():
        plan = Runner(write_flow(INDIRECT.replace("BODY", body), f"escape_{name}.py")).plan()
        assert plan["start"]["param_refs"] == "*", name


INCLUDED = """
import os

from rayflow import FlowSpec, IncludeFile, cache, step


class IncludedFlow(FlowSpec):
    data = IncludeFile("data", default=os.path.join(os.path.dirname(__file__), "data.txt"))

    @cache
    @step
    def start(self):
        self.words = len(self.data.split()) * 10 + len(os.environ.get("RF_CACHE_MODE", ""))
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def test_an_included_file_or_environment_variable_that_changes_reruns_the_step(
    run_flow, write_flow, datastore, tmp_path
):
    from rayflow import Runner

    flow = write_flow(INCLUDED, "included.py")
    (tmp_path / "data.txt").write_text("one two")
    assert run_flow(flow).run["start"].task.data.words == 20
    assert run_flow(flow).cached == [("start", "0")]
    (tmp_path / "data.txt").write_text("one two three")
    edited = run_flow(flow)
    assert edited.cached == [] and edited.run["start"].task.data.words == 30

    env = Runner(
        flow, datastore=datastore, with_=("environment:vars={'RF_CACHE_MODE': 'abcd'}",)
    ).run()
    assert env.cached == [] and env.run["start"].task.data.words == 34


def test_a_local_module_edited_between_runs_in_one_process_is_not_served_stale(run_flow, tmp_path):
    """A notebook: the same Ray workers serve both runs, and had imported the old helpers.py.
    The second run must execute the edited module, so that what it caches under the new key is
    the new code's result. A new file that nothing imports changes nothing."""
    (tmp_path / "mathlib").mkdir()
    (tmp_path / "mathlib" / "__init__.py").write_text("")
    core = tmp_path / "mathlib" / "core.py"
    core.write_text("def factor():\n    return 10\n")
    (tmp_path / "helpers.py").write_text(textwrap.dedent(LOCAL_HELPERS))
    flow = tmp_path / "local_flow.py"
    flow.write_text(textwrap.dedent(LOCAL_FLOW))
    assert run_flow(str(flow)).run["start"].task.data.out == 30
    (tmp_path / "notes.py").write_text("UNRELATED = 1\n")
    assert run_flow(str(flow)).cached == [("start", "0")]
    core.write_text("def factor():\n    return 100\n")
    edited = run_flow(str(flow))
    assert edited.cached == []
    assert edited.run["start"].task.data.out == 300


def test_a_flow_edited_after_it_was_loaded_keys_the_code_it_runs(
    write_flow, datastore, ray_session
):
    """A Runner made before an edit still runs the code it loaded: its runs keep that code's key,
    so the edited file's first run (a new Runner) recomputes instead of taking the old value."""
    from rayflow import Runner

    flow = write_flow(HELPER, "loaded.py")
    before = Runner(flow, datastore=datastore)
    assert before.run().run["start"].task.data.out == 30
    write_flow(HELPER.replace("return x * 10", "return x * 100"), "loaded.py")
    old_code = before.run()
    assert old_code.cached == [("start", "0")] and old_code.run["start"].task.data.out == 30
    edited = Runner(flow, datastore=datastore).run()
    assert edited.cached == [] and edited.run["start"].task.data.out == 300


def _notebook_cell(module: str, source: str, cell: str) -> type:
    """Run ``source`` as IPython runs a notebook cell: compiled under a cell name that is no
    file (its lines registered in linecache), in a module that has no ``__file__``."""
    import linecache
    import types

    linecache.cache[cell] = (len(source), None, source.splitlines(True), cell)
    mod = sys.modules.get(module) or types.ModuleType(module)
    sys.modules[module] = mod
    exec(compile(source, cell, "exec"), mod.__dict__)
    return mod.__dict__["HelperFlow"]


def test_a_flow_with_no_source_file_is_keyed_by_its_shipped_code(run_flow):
    """A notebook: no file to read, so a helper redefined in another cell must still count."""
    source = textwrap.dedent(HELPER)
    flow = _notebook_cell("rf_cache_notebook", source, "<cell-1>")
    assert run_flow(flow).run["start"].task.data.out == 30
    assert run_flow(flow).cached == [("start", "0")]  # the same class, the same helpers: a hit
    flow = _notebook_cell("rf_cache_notebook", source.replace("x * 10", "x * 100"), "<cell-2>")
    edited = run_flow(flow)
    assert edited.cached == [] and edited.run["start"].task.data.out == 300
