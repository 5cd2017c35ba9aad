"""Metaflow flows that use platform decorators, cards and helpers run after an import change."""

from __future__ import annotations

import warnings

from rayflow import (
    FlowSpec,
    card,
    conda_base,
    current,
    kubernetes,
    parallel_map,
    profile,
    project,
    resources,
    retry,
    step,
)
from rayflow.cards import Markdown, Table


def _square(x: int) -> int:
    return x * x


with warnings.catch_warnings():
    warnings.simplefilter("ignore")

    @project(name="demo")
    @conda_base(python="3.11", libraries={"pandas": "2.2"})
    class TutorialFlow(FlowSpec):
        @card(type="blank")
        @step
        def start(self):
            current.card.append(Markdown("# hello"))
            current.card.append(Table([[1, 2]]))
            timings = {}
            with profile("squares", stats_dict=timings):
                self.squares = parallel_map(_square, [1, 2, 3])
            self.timed = "squares" in timings
            self.next(self.train)

        @kubernetes(cpu=1)
        @retry
        @resources(cpu=1, memory=500)
        @step
        def train(self):
            self.total = sum(self.squares)
            self.next(self.end)

        @step
        def end(self):
            pass


def test_platform_decorators_cards_and_helpers_are_accepted(run_flow):
    out = run_flow(TutorialFlow)
    assert out.successful
    assert out.run.data.total == 14
    assert out.run["start"].task.data.timed is True
