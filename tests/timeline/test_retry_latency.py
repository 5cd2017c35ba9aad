"""A local run retries at once (the pause of ``minutes_between_retries`` is for clusters), so the
parallelism report subtracts no pause from a local retry's scheduling latency."""

from __future__ import annotations

import pytest

from rayflow import FlowSpec, current, retry, step
from rayflow._stats import run_stats


class FailsOnceFlow(FlowSpec):
    @retry(times=1)  # minutes_between_retries: the default, 2
    @step
    def start(self):
        if current.retry_count == 0:
            raise RuntimeError("the first attempt fails")
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_local_retry_is_reported_with_its_real_latency_and_no_planned_pause(run_flow):
    outcome = run_flow(FailsOnceFlow)
    assert outcome.successful
    first, second = sorted(
        (a for a in run_stats(outcome.run).attempts if a.step == "start"), key=lambda a: a.attempt
    )
    assert (first.status, second.status) == ("failed", "done")
    assert second.retry_delay == 0.0
    assert second.latency == pytest.approx(second.started_at - second.ready_at)
