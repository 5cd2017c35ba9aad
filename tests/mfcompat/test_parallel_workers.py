"""A @parallel step's worker tasks (node index > 0) may end without ``self.next()``, as in Metaflow
(SecretsDecoratorTest returns early on them); its control task (node 0) may not."""

from __future__ import annotations

import pytest

from rayflow import FlowSpec, current, parallel, step


class EarlyWorkersFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.train, num_parallel=3)

    @parallel
    @step
    def train(self):
        self.node = current.parallel.node_index
        if self.node != 0:
            return
        self.next(self.join)

    @step
    def join(self, inputs):
        self.nodes = sorted(i.node for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


class ControlWithoutNextFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.train, num_parallel=2)

    @parallel
    @step
    def train(self):
        if current.parallel.node_index == 0:
            return
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


@pytest.mark.timeout(300)
def test_parallel_worker_tasks_may_end_without_next_but_the_control_task_may_not(run_flow):
    out = run_flow(EarlyWorkersFlow)
    assert out.successful, out.failures
    assert out.run["join"].task.data.nodes == [0, 1, 2]
    bad = run_flow(ControlWithoutNextFlow)
    assert not bad.successful
    assert [label for label, _ in bad.failures] == ["train/0"]
    assert "finished without calling self.next()" in str(bad.failures[0][1])
