"""A step whose worker process dies (os._exit, a segfault): one line saying how it died, the
faulthandler traceback kept in the task's stderr, no raylet paragraph on the console, and
@catch storing what happened."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from rayflow import FlowSpec, catch, step
from rayflow.datastore import open_storage, records, taskrecords

CRASHING = """
import ctypes
import os

from rayflow import FlowSpec, Parameter, step


class CrashFlow(FlowSpec):
    how = Parameter("how", default="exit")

    @step
    def start(self):
        print("about to go")
        if self.how == "exit":
            os._exit(3)
        ctypes.string_at(0)
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def _rayflow(args: list[str]) -> subprocess.CompletedProcess:
    ray_tmp = tempfile.mkdtemp(prefix="rfd", dir="/tmp")  # short: Ray's socket paths are limited
    env = dict(os.environ, RAY_TMPDIR=ray_tmp)
    try:
        return subprocess.run(
            [sys.executable, "-m", "rayflow.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_a_segfault_is_named_and_its_traceback_kept_without_rays_paragraph(write_flow, tmp_path):
    path = write_flow(CRASHING)
    ds = str(tmp_path / "ds")
    proc = _rayflow(["run", path, "--how", "segv", "--datastore", ds])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert (
        "[start/0] error: the worker process was killed by SIGSEGV (Segmentation fault)" in output
    )
    assert "(raylet)" not in output and "A worker died or was killed" not in output
    assert "ray stop --force" not in output and "Traceback" not in output
    (run_id,) = os.listdir(os.path.join(ds, "CrashFlow", "runs"))
    storage = open_storage(ds)
    stderr = records.read_log(storage, "CrashFlow", run_id, "start", "0", "stderr", 0)
    assert "Fatal Python error: Segmentation fault" in stderr
    assert f'File "{path}", line 15 in start' in stderr
    meta = taskrecords.read_attempt(storage, "CrashFlow", run_id, "start", "0", 0)
    assert "killed by SIGSEGV" in meta.exception["message"]


def test_os_exit_in_a_step_says_the_exit_code_and_keeps_the_output(
    ray_session, write_flow, tmp_path
):
    from click.testing import CliRunner

    from rayflow.cli import cli

    path = write_flow(CRASHING)
    ds = str(tmp_path / "ds")
    result = CliRunner().invoke(cli, ["run", path, "--how", "exit", "--datastore", ds])
    assert result.exit_code == 1, result.output
    assert (
        f"[start/0] error: {path}:14: the worker process exited with code 3 "
        "(os._exit in step 'start')"
    ) in result.output.splitlines()
    assert "[start/0] about to go" in result.output.splitlines()
    (run_id,) = os.listdir(os.path.join(ds, "CrashFlow", "runs"))
    storage = open_storage(ds)
    assert (
        records.read_log(storage, "CrashFlow", run_id, "start", "0", "stdout", 0) == "about to go\n"
    )
    meta = taskrecords.read_attempt(storage, "CrashFlow", run_id, "start", "0", 0)
    assert meta.status == "failed" and meta.exception["type"] == "WorkerExit"


class CatchDeadWorkerFlow(FlowSpec):
    @step
    def start(self):
        self.before = "kept"
        self.next(self.doomed)

    @catch(var="problem")
    @step
    def doomed(self):
        os._exit(7)
        self.next(self.end)

    @step
    def end(self):
        self.seen = self.before


def test_catch_on_a_step_whose_worker_died_stores_the_exit_code(run_flow):
    out = run_flow(CatchDeadWorkerFlow)
    assert out.successful
    task = out.run["doomed"].task
    problem = task.data.problem
    assert problem.type == "metaflow.plugins.catch_decorator.FailureHandledByCatch"
    assert problem.exception == "the worker process exited with code 7 (os._exit in step 'doomed')"
    assert "exited with code 7" in repr(problem)
    assert task.current_attempt == 1  # the attempt that died, then the one @catch recorded
    assert out.run.data.seen == "kept"


def test_a_worker_killed_with_sigkill_is_said_to_have_died_without_a_word(run_flow, folder):
    from .conftest import touch
    from .flows import SplitsFlow

    touch(folder, "kill-1")
    out = run_flow(SplitsFlow, folder=folder, n=2)
    assert [label for label, _ in out.failures] == ["work/1"]
    message = out.failures[0][1]["message"]
    assert message.startswith("the worker process died without a word (killed by SIGKILL"), message
