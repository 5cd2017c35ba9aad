"""``@concurrency(max=N)``: at most N tasks of a step run at once while other steps run wider,
read from the tasks' recorded start and end times."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from rayflow import FlowSpec, concurrency, step
from rayflow._errors import DecoratorError
from rayflow.datastore import open_storage, records, taskrecords


class LimitedFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(4))
        self.next(self.limited, foreach="items")

    @concurrency(max=1)
    @step
    def limited(self):
        time.sleep(0.6)
        self.next(self.join_limited)

    @step
    def join_limited(self, inputs):
        self.items = list(range(4))
        self.next(self.wide, foreach="items")

    @step
    def wide(self):
        time.sleep(0.6)
        self.next(self.join_wide)

    @step
    def join_wide(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


FLOW_FILE = """
from rayflow import FlowSpec, concurrency, step

class FetchFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.fetch, foreach="items")

    @concurrency(max=2)
    @step
    def fetch(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
"""
RAYFLOW = os.path.join(os.path.dirname(sys.executable), "rayflow")


def _most_at_once(datastore: str, run_id: str, step: str) -> int:
    storage = open_storage(datastore)
    spans = []
    for task_id in records.list_tasks(storage, "LimitedFlow", run_id, step):
        meta = taskrecords.read_task(storage, "LimitedFlow", run_id, step, task_id)
        spans.append((meta.started_at, meta.finished_at))
    assert len(spans) == 4
    # The most running at one moment: some task's start is such a moment.
    return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)


def test_a_limited_step_never_runs_more_tasks_at_once_than_its_limit(run_flow, datastore):
    out = run_flow(LimitedFlow)
    assert out.successful
    assert _most_at_once(datastore, out.run_id, "limited") == 1
    assert _most_at_once(datastore, out.run_id, "wide") >= 2  # the session's Ray has 2 CPUs


def test_rayflow_show_prints_the_limit_beside_the_step(write_flow):
    path = write_flow(FLOW_FILE)
    proc = subprocess.run([RAYFLOW, "show", path], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "step fetch  @concurrency(max=2)" in proc.stdout.splitlines()


def test_a_bad_limit_in_a_flow_file_is_one_line_naming_the_file_and_line(write_flow):
    path = write_flow(FLOW_FILE.replace("max=2", "max=0"))
    proc = subprocess.run([RAYFLOW, "show", path], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: {path}:9: error while importing the flow: DecoratorError: "
        f"@concurrency needs max=N, a whole number of at least 1 (got 0)"
    ]


@pytest.mark.parametrize("options", [{}, {"max": 0}, {"max": "4"}])
def test_a_limit_that_is_not_a_positive_whole_number_is_one_clear_error(options):
    with pytest.raises(
        DecoratorError, match=r"@concurrency needs max=N, a whole number of at least 1"
    ):
        concurrency(**options)(lambda self: None)
