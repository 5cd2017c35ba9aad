"""Every way of starting a run builds one ``RunRequest``: a flag of ``rayflow run`` means the same
for ``rayflow resume`` (they drifted when each command passed its own arguments to the run)."""

from __future__ import annotations

import os

from click.testing import CliRunner

from rayflow.cli import cli
from rayflow.datastore import open_storage, records
from rayflow.scheduler._resume import latest_run

FLOW = """
import os
from rayflow import FlowSpec, Parameter, cache, current, step


class ResumeFlagsFlow(FlowSpec):
    folder = Parameter("folder")

    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.square, foreach="items")

    @cache
    @step
    def square(self):
        with open(os.path.join(self.folder, "executions.log"), "a") as f:
            f.write(f"{current.step_name}/{current.task_id}\\n")
        self.value = self.input ** 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def _executions(folder) -> list[str]:
    path = os.path.join(folder, "executions.log")
    return open(path).read().split() if os.path.exists(path) else []


def _first_run(write_flow, tmp_path) -> tuple[str, str, str]:
    path, ds, folder = write_flow(FLOW), str(tmp_path / "ds"), tmp_path / "work"
    folder.mkdir()
    result = CliRunner().invoke(
        cli, ["run", path, "--folder", str(folder), "--datastore", ds, "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert len(_executions(folder)) == 3
    return path, ds, str(folder)


def _latest(ds: str) -> dict:
    storage = open_storage(ds)
    run_id, _, _ = latest_run(storage, "ResumeFlagsFlow")
    return records.read_run(storage, "ResumeFlagsFlow", run_id)


def test_resume_no_cache_reruns_cached_steps_instead_of_reusing_them(
    ray_session, write_flow, tmp_path
):
    path, ds, folder = _first_run(write_flow, tmp_path)
    cached = CliRunner().invoke(cli, ["resume", path, "square", "--datastore", ds, "--quiet"])
    assert cached.exit_code == 0, cached.output
    assert len(_executions(folder)) == 3  # the re-run squares came from the cache
    assert _latest(ds)["cached"] == 3

    uncached = CliRunner().invoke(
        cli, ["resume", path, "square", "--no-cache", "--datastore", ds, "--quiet"]
    )
    assert uncached.exit_code == 0, uncached.output
    again = _executions(folder)[3:]
    assert len(again) == 3 and all(label.startswith("square/") for label in again)
    record = _latest(ds)
    assert record["cached"] == 0 and record["status"] == "successful"


def test_resume_max_num_splits_limits_a_rerun_foreach(ray_session, write_flow, tmp_path):
    path, ds, _ = _first_run(write_flow, tmp_path)
    result = CliRunner().invoke(
        cli, ["resume", path, "start", "--max-num-splits", "2", "--datastore", ds, "--quiet"]
    )
    assert result.exit_code == 1
    assert "produced 3 splits, more than --max-num-splits 2" in result.output
    record = _latest(ds)
    assert record["status"] == "failed" and record["failed_tasks"] == ["start/0"]
    assert record["origin_run_id"]  # it is the resume that failed, not a new run
