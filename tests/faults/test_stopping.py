"""--fail-fast reports what it cancelled as cancelled, and a local @retry retries at once."""

from __future__ import annotations

import io
import os
import re

from click.testing import CliRunner

from rayflow import FlowSpec, current, retry, step
from rayflow.cli import cli
from rayflow.datastore import open_storage, taskrecords

FAIL_FAST = """
import time

from rayflow import FlowSpec, step


class StopFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(8))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.input == 0:
            time.sleep(0.5)
            raise RuntimeError("split zero fails")
        time.sleep(8)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def test_fail_fast_counts_one_failure_and_calls_the_rest_cancelled(
    ray_session, write_flow, tmp_path
):
    path = write_flow(FAIL_FAST)
    ds = str(tmp_path / "ds")
    result = CliRunner().invoke(cli, ["run", path, "--fail-fast", "--datastore", ds])
    assert result.exit_code == 1, result.output
    assert "KeyboardInterrupt" not in result.output, result.output
    assert result.output.count("Traceback") == 1, result.output  # work/0's own
    assert result.output.count("step failed") == 1, result.output
    summary = re.search(r"failed: 1 task\(s\) failed \(work/0\), (\d+) cancelled;", result.output)
    assert summary, result.output
    (run_id,) = os.listdir(f"{ds}/StopFlow/runs")
    storage = open_storage(ds)
    unfinished = [
        i
        for i in range(1, 8)
        if not taskrecords.is_done(storage, "StopFlow", run_id, "work", str(i))
    ]
    assert int(summary.group(1)) == len(unfinished) > 0
    for i in unfinished:  # a task that had started records that it was cancelled
        try:
            meta = taskrecords.read_attempt(storage, "StopFlow", run_id, "work", str(i), 0)
        except Exception:  # noqa: BLE001 - cancelled before it started: no record at all
            continue
        assert meta.exception["type"] == "Cancelled", meta.exception


class RetryAtOnceFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.flaky)

    @retry(times=1)  # minutes_between_retries defaults to 2
    @step
    def flaky(self):
        if current.retry_count == 0:
            raise ValueError("first attempt fails")
        self.next(self.end)

    @step
    def end(self):
        pass


def test_local_retry_does_not_wait_minutes_between_retries(run_flow, datastore, capsys):
    out = run_flow(RetryAtOnceFlow)
    assert out.successful
    storage = open_storage(datastore)
    first = taskrecords.read_attempt(storage, "RetryAtOnceFlow", out.run_id, "flaky", "0", 0)
    second = taskrecords.read_attempt(storage, "RetryAtOnceFlow", out.run_id, "flaky", "0", 1)
    # the default delay is 120 s; a local run does not wait it
    assert second.started_at - first.finished_at < 60
    err = capsys.readouterr().err
    assert "[flaky/0] retrying (retry 1 of 1)" in err.splitlines(), err


def test_progress_shows_a_retry_that_waits_as_waiting():
    from rayflow.scheduler._progress import Progress

    out = io.StringIO()
    with Progress(["flaky"], out=out, live=False) as progress:
        progress.submitted("flaky")
        progress.retrying("flaky", waiting=True)
        progress._plain(force=True)
        assert out.getvalue().splitlines()[-1] == "  flaky: 0/1 done, 1 waiting to retry"
        progress.waited("flaky")
        progress.submitted("flaky")
        progress.finished("flaky", True)
    assert out.getvalue().splitlines()[-1] == "  flaky: 1/1 done"


RESUME_FAIL_FAST = """
import os
import time

from rayflow import FlowSpec, step

BROKEN = {broken!r}


class ResumeStopFlow(FlowSpec):
    @step
    def start(self):
        if os.path.exists(BROKEN):
            raise RuntimeError("start is broken")
        self.items = list(range(8))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.input == 0:
            time.sleep(0.5)
            raise RuntimeError("split zero fails")
        time.sleep(8)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def test_resume_takes_fail_fast_and_cancels_the_rest_at_the_first_failure(
    ray_session, write_flow, tmp_path
):
    broken = tmp_path / "broken"
    broken.write_text("")
    path = write_flow(RESUME_FAIL_FAST.format(broken=str(broken)))
    ds = str(tmp_path / "ds")
    first = CliRunner().invoke(cli, ["run", path, "--datastore", ds])
    assert first.exit_code == 1 and "start is broken" in first.output, first.output
    broken.unlink()
    result = CliRunner().invoke(cli, ["resume", path, "--fail-fast", "--datastore", ds])
    assert result.exit_code == 1, result.output
    assert result.output.count("step failed") == 1, result.output
    summary = re.search(r"failed: 1 task\(s\) failed \(work/0\), (\d+) cancelled;", result.output)
    assert summary and int(summary.group(1)) > 0, result.output
