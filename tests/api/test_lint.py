"""The static lint: every problem reported as ``file:line: step 'x': message``, before running."""

import pytest

import rayflow
from rayflow._loader import load_flow
from rayflow._prepare import checked_graph


@pytest.fixture
def lint_problems(write_flow, tmp_path, monkeypatch):
    """Write the flow, load it, lint it; return the problems (``[]`` when the graph is fine)."""
    monkeypatch.chdir(tmp_path)

    def problems(source):
        path = write_flow(source)
        flow_cls, _ = load_flow(path)
        try:
            checked_graph(flow_cls)
        except rayflow.LintError as exc:
            assert str(exc) == "\n".join(exc.problems)
            return exc.problems
        return []

    return problems


def test_a_good_flow_has_no_problems(lint_problems):
    assert (
        lint_problems("""
        from rayflow import FlowSpec, step

        class GoodFlow(FlowSpec):
            @step
            def start(self):
                self.items = [1, 2]
                self.next(self.a, foreach="items")

            @step
            def a(self):
                self.next(self.join)

            @step
            def join(self, inputs):
                self.next(self.end)

            @step
            def end(self):
                pass
    """)
        == []
    )


def test_missing_start_is_reported_at_the_class(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, step


        class NoStartFlow(FlowSpec):
            @step
            def begin(self):
                self.next(self.end)

            @step
            def end(self):
                pass
    """)
    assert problems[0].startswith("flow.py:4: step 'start': flow NoStartFlow has no start step")


def test_missing_end_is_reported_at_the_class(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, step

        class NoEndFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.finish)

            @step
            def finish(self):
                pass
    """)
    assert (
        "flow.py:3: step 'end': flow NoEndFlow has no end step (define `@step def end(self)`)"
        in problems
    )


def test_end_calling_next_is_reported_at_the_call(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, step

        class EndNextFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                x = 1
                self.next(self.start)
    """)
    assert "flow.py:11: step 'end': the end step must not call self.next()" in problems


def test_a_step_without_self_next_is_reported_at_its_def(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, step

        class NoNextFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.middle)

            @step
            def middle(self):
                self.x = 1

            @step
            def end(self):
                pass
    """)
    assert problems == [
        "flow.py:9: step 'middle': step has no self.next() transition as its last statement"
    ]


def test_self_next_not_last_is_reported_at_the_call(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, step

        class NotLastFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.end)
                print("after")

            @step
            def end(self):
                pass
    """)
    assert problems == [
        "flow.py:6: step 'start': self.next() must be the last statement of the step"
    ]


def test_next_to_an_unknown_step_is_reported_at_the_call(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, step

        class UnknownFlow(FlowSpec):
            @step
            def start(self):
                self.x = 1
                self.next(self.nowhere)

            @step
            def end(self):
                pass
    """)
    assert "flow.py:7: step 'start': self.next() names unknown step 'nowhere'" in problems


def test_two_branches_meeting_at_a_non_join_step_say_it_must_be_a_join(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, step

        class NotAJoinFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.a, self.b)

            @step
            def a(self):
                self.next(self.meet)

            @step
            def b(self):
                self.next(self.meet)

            @step
            def meet(self):
                self.next(self.end)

            @step
            def end(self):
                pass
    """)
    assert len(problems) == 1
    assert problems[0].startswith("flow.py:17: step 'meet': 2 branches of split 'start' meet here")
    assert "def meet(self, inputs)" in problems[0]


def test_a_join_without_a_split_before_it_is_reported_at_its_def(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, step

        class LonelyJoinFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.join)

            @step
            def join(self, inputs):
                self.next(self.end)

            @step
            def end(self):
                pass
    """)
    assert len(problems) == 1
    assert problems[0].startswith(
        "flow.py:9: step 'join': step takes `inputs` (a join) but no split comes before it"
    )


def test_a_cycle_is_reported_with_its_path(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, step

        class CycleFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.a)

            @step
            def a(self):
                self.next(self.b)

            @step
            def b(self):
                self.next(self.a)

            @step
            def end(self):
                pass
    """)
    assert problems == [
        "flow.py:14: step 'b': transitions form a cycle (a -> b -> a); flows must be acyclic"
    ]


def test_an_unreachable_step_is_reported_at_its_def(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, step

        class UnreachableFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.end)

            @step
            def orphan(self):
                self.next(self.end)

            @step
            def end(self):
                pass
    """)
    assert problems == ["flow.py:9: step 'orphan': step is unreachable from start"]


def test_a_split_never_joined_before_end_is_reported_at_end(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, step

        class UnjoinedFlow(FlowSpec):
            @step
            def start(self):
                self.items = [1, 2]
                self.next(self.work, foreach="items")

            @step
            def work(self):
                self.next(self.end)

            @step
            def end(self):
                pass
    """)
    assert problems == [
        "flow.py:14: step 'end': the end step is reached inside split 'start' that is never joined"
    ]


def test_a_step_named_next_is_reserved(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, step

        class ReservedFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.next)

            @step
            def next(self):
                self.next(self.end)

            @step
            def end(self):
                pass
    """)
    assert "flow.py:9: step 'next': 'next' is a reserved name; rename the step" in problems


def test_foreach_naming_two_steps_is_reported_at_the_call(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, step

        class TwoTargetsFlow(FlowSpec):
            @step
            def start(self):
                self.items = [1]
                self.next(self.a, self.b, foreach="items")

            @step
            def a(self):
                self.next(self.join)

            @step
            def b(self):
                self.next(self.join)

            @step
            def join(self, inputs):
                self.next(self.end)

            @step
            def end(self):
                pass
    """)
    assert "flow.py:7: step 'start': a foreach transition must name exactly one step" in problems


def test_every_problem_in_a_file_is_reported_at_once(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, step

        class ManyProblemsFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.a)

            @step
            def a(self):
                self.x = 1

            @step
            def b(self):
                self.next(self.ghost)

            @step
            def end(self):
                self.next(self.a)
    """)
    assert problems == [
        "flow.py:9: step 'a': step has no self.next() transition as its last statement",
        "flow.py:14: step 'b': self.next() names unknown step 'ghost'",
        "flow.py:18: step 'end': the end step must not call self.next()",
    ]


def test_problems_name_the_file_by_absolute_path_outside_the_working_directory(
    write_flow, tmp_path, monkeypatch
):
    path = write_flow("""
        from rayflow import FlowSpec, step

        class NoEndFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.finish)

            @step
            def finish(self):
                pass
    """)
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    monkeypatch.chdir(sub)
    flow_cls, _ = load_flow(path)
    with pytest.raises(rayflow.LintError) as info:
        checked_graph(flow_cls)
    assert info.value.problems[0].startswith(f"{path}:3: step 'end':")


def test_problems_in_a_flow_class_defined_in_a_test_module_point_at_this_file():
    from rayflow import FlowSpec, step

    class InlineFlow(FlowSpec):
        @step
        def start(self):
            self.next(self.missing)

        @step
        def end(self):
            pass

    with pytest.raises(rayflow.LintError) as info:
        checked_graph(InlineFlow)
    line = InlineFlow.start.__code__.co_firstlineno + 2
    assert info.value.problems == [
        f"{_display(__file__)}:{line}: step 'start': self.next() names unknown step 'missing'"
    ]


def _display(path):
    import os

    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def test_line_numbers_stay_exact_under_extra_decorators(lint_problems):
    problems = lint_problems("""
        from rayflow import FlowSpec, retry, step, timeout

        class DecoratedFlow(FlowSpec):
            @retry(times=1)
            @step
            @timeout(
                seconds=5,
            )
            def start(self):
                self.x = 1

            @step
            def end(self):
                pass
    """)
    assert problems == [
        "flow.py:9: step 'start': step has no self.next() transition as its last statement"
    ]
