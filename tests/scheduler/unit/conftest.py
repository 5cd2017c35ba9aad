"""Unit tests of the planner, the driver loop and the cloner, without Ray.

The driver loop runs on ``InProcessExecutor``: tasks run in the test's process, either scripted
(``scripted``: a result made from the plan, for the loop's logic alone) or with the real task
body against a real local datastore (``drive(..., body=True)``). The real-Ray tests of
``tests/scheduler`` and ``tests/faults`` stay the ground truth; these say which part is wrong.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from rayflow._prepare import plan_for
from rayflow.datastore import BlobStore, Storage, open_storage, taskrecords
from rayflow.scheduler import decorators
from rayflow.scheduler._driver import Driver, Outcome
from rayflow.scheduler._identity import TaskSpec
from rayflow.scheduler._inprocess import InProcessExecutor, task_body
from rayflow.scheduler._planner import Planner
from rayflow.scheduler._progress import Progress
from rayflow.scheduler._result import Fanout, TaskResult


@pytest.fixture
def storage(tmp_path) -> Storage:
    return open_storage(str(tmp_path / "ds"))


def plan_of(flow_cls: type) -> dict[str, dict[str, Any]]:
    return plan_for(flow_cls)[1]


def scripted(
    plan: dict[str, Any],
    fail: Callable[[TaskSpec], bool] = lambda s: False,
    width: int = 4,
    calls: list[str] | None = None,
) -> Callable[[TaskSpec], TaskResult]:
    """A task body that runs nothing: it succeeds as the plan says (a foreach of ``width``
    splits, a switch takes its first case), or fails where ``fail(spec)``; ``calls`` collects
    each attempt's ``label/attempt``."""

    def run(spec: TaskSpec) -> TaskResult:
        if calls is not None:
            calls.append(f"{spec.label()}/{spec.attempt}")
        if fail(spec):
            error = {
                "type": "ValueError",
                "message": f"{spec.label()} failed",
                "traceback": f"ValueError: {spec.label()} failed",
                "internal": False,
            }
            return TaskResult.failure(error)
        node = plan[spec.step]
        if node["foreach"]:
            return TaskResult(
                ok=True,
                next=list(node["out"]),
                attempt=spec.attempt,
                foreach=Fanout(width, [f"item-{i}" for i in range(width)]),
            )
        out = list(node["out"])
        if node.get("condition"):
            out = [next(iter(node["switch"].values()))]
        return TaskResult(ok=True, next=out, attempt=spec.attempt)

    return run


@dataclass
class Drove:
    outcome: Outcome
    executor: InProcessExecutor
    messages: str  # what the driver told the user (failures, retries)

    @property
    def ran(self) -> list[str]:
        """``step/task_id/attempt`` of every attempt handed to the executor, in order."""
        return [f"{s.label()}/{s.attempt}" for s in self.executor.submitted]


def drive(
    flow_cls: type,
    storage: Storage | None = None,
    *,
    run_id: str = "r1",
    body: Callable[[TaskSpec], TaskResult] | None = None,
    window: int = 8,
    fail_fast: bool = False,
    cloner: Any = None,
    should_stop: Any = None,
    interrupts: Any = None,
    params: dict[str, Any] | None = None,
) -> Drove:
    """Drive ``flow_cls`` to its end in this process; the real task body when ``body`` is None
    (then ``storage`` is where the run's tasks go)."""
    plan = plan_of(flow_cls)
    retries = {step: decorators.retry_policy(node, False) for step, node in plan.items()}
    if body is None:
        assert storage is not None
        blobs = BlobStore(storage, flow_cls.__name__)
        keys = {attr: blobs.put(attr, value) for attr, value in (params or {}).items()}
        body = task_body(context(flow_cls, plan, storage, run_id, keys, retries), flow_cls)
    executor = InProcessExecutor(body)
    out = io.StringIO()
    with Progress(list(plan), out=out, live=False) as progress:
        driver = Driver(
            Planner(plan),
            executor,
            progress,
            window,
            fail_fast,
            retries,
            cloner=cloner,
            should_stop=should_stop,
            interrupts=interrupts,
        )
        outcome = driver.drive()
    return Drove(outcome, executor, out.getvalue())


def context(
    flow_cls: type,
    plan: dict[str, Any],
    storage: Storage,
    run_id: str,
    param_keys: dict[str, str],
    retries: dict[str, tuple[int, float]],
) -> dict[str, Any]:
    """What every task of a run reads (``_launch._executor`` builds the same for Ray)."""
    return {
        "flow": flow_cls.__name__,
        "run_id": run_id,
        "root": storage.url,
        "plan": plan,
        "params": param_keys,
        "user": "tester",
        "tags": [],
        "origin_run_id": None,
        "max_attempts": {step: times + 1 for step, (times, _) in retries.items()},
        "trial": None,
        "reporter": None,
        "max_num_splits": None,
        "flow_dir": None,
        "code_files": {},
        "decorator_classes": decorators.shipped_classes(plan),
    }


def artifact(storage: Storage, flow: str, run_id: str, step: str, task_id: str, name: str) -> Any:
    record = taskrecords.read_task(storage, flow, run_id, step, task_id)
    return BlobStore(storage, flow).get(record.artifacts[name])
