"""Running one (graph, test) pair: write the flow and checker, ``python test_flow.py run`` (and
``resume`` where the test asks), both checkers; the outcome with its stage and first error line.
Part of ``benchmarks/metaflow_suite.py``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._mfsuite_generate import generate
from ._mfsuite_tests import TestClass


# --- running one pair ----------------------------------------------------------------------------
@dataclass
class Outcome:
    test: str
    graph: str
    status: str  # pass | fail | left out
    stage: str = ""
    error: str = ""
    seconds: float = 0.0
    stages: dict[str, str] = field(default_factory=dict)


_TASK_PREFIX = re.compile(r"^\[[^\]/ ]+/[^\] ]+\] ?", re.M)


def first_error_line(out: str, err: str) -> str:
    """The exception line of the first traceback (a task's lines lose their ``[step/id]``),
    else the first line that reads like an error."""
    err, out = _TASK_PREFIX.sub("", err or ""), _TASK_PREFIX.sub("", out or "")
    text = err + "\n" + out
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if "Traceback (most recent call last)" in err:
        tb = err.split("Traceback (most recent call last)")[1].splitlines()[1:]
        exc = [ln for ln in tb if ln and not ln.startswith(" ") and ":" in ln]
        if exc:
            return exc[0].strip()[:300]
    for ln in lines:
        if re.search(r"error|fail|exception|not found|no such", ln, re.I):
            return ln[:300]
    return (lines[-1] if lines else "(no output)")[:300]


def run_pair(
    test: TestClass,
    graph: dict,
    ctx: dict,
    stage_dir: str,
    tests_dir: str,
    timeout: float,
    keep: bool,
    extra_path: list[str],
) -> Outcome:
    gname = graph["name"]
    started = time.monotonic()
    generated = generate(graph, test)
    assert generated is not None
    flow_name, flow_code, check_code = generated
    tmp = tempfile.mkdtemp(prefix=f"mfs_{test.name}_{gname}_")
    result = Outcome(test.name, gname, "fail")
    try:
        _write_pair(tmp, flow_code, check_code, stage_dir, tests_dir, test)
        env = _pair_env(tmp, ctx, extra_path)
        py = sys.executable
        deadline = started + timeout

        def call(cmd: list[str]) -> subprocess.CompletedProcess:
            return _call(cmd, tmp, env, deadline, timeout)

        def flow_cmd(mode: str, extra: list[str] | None = None) -> list[str]:
            return _flow_cmd(py, ctx, mode, extra)

        def fail(stage: str, proc: subprocess.CompletedProcess) -> Outcome:
            return _fail(result, tmp, stage, proc)

        proc, failed = _run_flow(test, call, flow_cmd, fail)
        if failed is not None:
            return failed
        try:
            run_id = open(os.path.join(tmp, "run-id")).read()
        except OSError:
            proc.stderr += "\nno run-id file was written (--run-id-file)"
            return fail("run", proc)
        failed = None
        for check in ("CliCheck", "MetadataCheck"):
            proc = call([py, "check_flow.py", check, run_id, *ctx["top_options"]])
            stage = "cli" if check == "CliCheck" else "client"
            result.stages[stage] = (
                "ok" if proc.returncode == 0 else first_error_line(proc.stdout, proc.stderr)
            )
            if proc.returncode and failed is None:
                failed = fail(stage, proc)
        if failed is not None:
            return failed
        result.status = "pass"
        return result
    finally:
        result.seconds = round(time.monotonic() - started, 1)
        if keep and result.status != "pass":
            result.stages["dir"] = tmp
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _write_pair(
    tmp: str, flow_code: str, check_code: str, stage_dir: str, tests_dir: str, test: TestClass
) -> None:
    """The pair's directory: the flow, its checker, the staged helpers and the test's files."""
    with open(os.path.join(tmp, "test_flow.py"), "w") as f:
        f.write(flow_code)
    with open(os.path.join(tmp, "check_flow.py"), "w") as f:
        f.write(check_code)
    shutil.copytree(os.path.join(stage_dir, "metaflow_test"), os.path.join(tmp, "metaflow_test"))
    shutil.copy2(os.path.join(stage_dir, "metaflow_suite_compat.py"), tmp)
    for name in test.get("REQUIRED_FILES", []):
        shutil.copy2(os.path.join(tests_dir, name), os.path.join(tmp, name))


def _pair_env(tmp: str, ctx: dict, extra_path: list[str]) -> dict[str, str]:
    """A small, fixed environment: the pair sees its own datastore and nothing of ours."""
    env = {
        k: os.environ[k]
        for k in ("HOME", "PATH", "RAY_TMPDIR", "USER", "TMPDIR")
        if k in os.environ
    }
    env.update({k: v.format(nonce=os.path.basename(tmp)) for k, v in ctx["env"].items()})
    env.update(
        {
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONIOENCODING": "utf_8",
            "PYTHONPATH": ":".join([*extra_path, tmp]),
            "RAYFLOW_DATASTORE": os.path.join(tmp, ".rayflow"),
        }
    )
    return env


def _call(
    cmd: list[str], tmp: str, env: dict[str, str], deadline: float, timeout: float
) -> subprocess.CompletedProcess:
    """Run ``cmd`` in the pair's directory within what is left of its time (at least 5 s); a
    timeout comes back as exit status -999."""
    left = max(5.0, deadline - time.monotonic())
    try:
        return subprocess.run(
            cmd,
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=left,
            errors="replace",
        )
    except subprocess.TimeoutExpired as exc:
        out = (
            exc.stdout.decode(errors="replace")
            if isinstance(exc.stdout, bytes)
            else (exc.stdout or "")
        )
        return subprocess.CompletedProcess(cmd, -999, out, f"timed out after {timeout:.0f} s")


def _flow_cmd(py: str, ctx: dict, mode: str, extra: list[str] | None = None) -> list[str]:
    return [
        py,
        "-B",
        "test_flow.py",
        *ctx["top_options"],
        mode,
        *(extra or []),
        "--run-id-file",
        "run-id",
        *ctx["run_options"],
    ]


def _fail(result: Outcome, tmp: str, stage: str, proc: subprocess.CompletedProcess) -> Outcome:
    """Mark ``result`` failed at ``stage`` with the first error line; the full output in a log."""
    result.stage = stage
    result.error = first_error_line(proc.stdout, proc.stderr)
    with open(os.path.join(tmp, f"{stage}.log"), "w") as f:
        f.write(
            f"$ {' '.join(proc.args)}\nexit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return result


def _run_flow(
    test: TestClass,
    call: Callable[[list[str]], subprocess.CompletedProcess],
    flow_cmd: Callable[..., list[str]],
    fail: Callable[[str, subprocess.CompletedProcess], Outcome],
) -> tuple[subprocess.CompletedProcess, Outcome | None]:
    """``run``, then ``resume`` if the test wants the run to fail and be resumed; the last
    process, and the failed outcome when the flow did not do what the test expects."""
    proc = call(flow_cmd("run"))
    if proc.returncode == -999:
        return proc, fail("run", proc)
    if proc.returncode:
        if test.get("SHOULD_FAIL"):
            pass
        elif test.get("RESUME"):
            step = [test.get("RESUME_STEP")] if test.get("RESUME_STEP") else []
            proc = call(flow_cmd("resume", step))
            if proc.returncode:
                return proc, fail("resume", proc)
        else:
            return proc, fail("run", proc)
    elif test.get("SHOULD_FAIL"):
        proc.stderr += "\nthe flow should have failed but it did not"
        return proc, fail("run", proc)
    elif test.get("RESUME"):
        proc.stderr += "\nthe run should have failed (for resume) but it did not"
        return proc, fail("run", proc)
    return proc, None
