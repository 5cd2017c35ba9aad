"""``Runner``: runs from Python given a flow file (optionally ``file.py:Class``) or a class."""

import pytest

from rayflow import FlowSpec, LintError, ParameterError, Runner, step


def test_runner_runs_a_flow_file_that_imports_a_sibling_module(ray_session, datastore, write_flow):
    write_flow(
        """
        SCALE = 3

        def triple(x):
            return x * SCALE
    """,
        name="rf_runner_helpers.py",
    )
    path = write_flow(
        """
        from rayflow import FlowSpec, Parameter, step
        from rf_runner_helpers import triple

        OFFSET = 100

        class SiblingFlow(FlowSpec):
            x = Parameter("x", default=1)

            @step
            def start(self):
                self.y = triple(self.x) + OFFSET
                self.next(self.end)

            @step
            def end(self):
                pass
    """,
        name="sibling_flow.py",
    )
    with Runner(path, datastore=datastore) as runner:
        out = runner.run(x=5)
    assert out.successful, out.failures
    assert out.run.data.y == 115
    assert out.pathspec == f"SiblingFlow/{out.run_id}"


def test_runner_picks_a_class_with_file_colon_class(ray_session, datastore, write_flow):
    path = write_flow("""
        from rayflow import FlowSpec, step

        class OneFlow(FlowSpec):
            @step
            def start(self):
                self.name_seen = "one"
                self.next(self.end)

            @step
            def end(self):
                pass

        class OtherFlow(OneFlow):
            @step
            def start(self):
                self.name_seen = "other"
                self.next(self.end)
    """)
    out = Runner(f"{path}:OtherFlow", datastore=datastore).run()
    assert out.successful
    assert out.run.data.name_seen == "other"
    assert out.run.flow_name == "OtherFlow"


class LintFailFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.nowhere)

    @step
    def end(self):
        pass


def test_runner_raises_lint_and_parameter_errors_before_running(datastore):
    import os

    with pytest.raises(LintError) as info:
        Runner(LintFailFlow, datastore=datastore).run()
    assert "nowhere" in info.value.problems[0]
    with pytest.raises(ParameterError):
        Runner(_Simple, datastore=datastore).run(unknown=1)
    assert not os.path.exists(os.path.join(datastore, "LintFailFlow"))
    assert not os.path.exists(os.path.join(datastore, "_Simple"))


class _Simple(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
