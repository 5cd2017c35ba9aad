"""A step decorator is one class: defined here, in one place, and applied through its hooks by
the driver (``retry_policy``), the worker (``wraps_step``) and ``rayflow show``."""

from __future__ import annotations

import contextlib
import os
from typing import Any, ClassVar

import pytest

from rayflow import FlowSpec, current, step
from rayflow._decorators import make_decorator
from rayflow._graph import build_graph
from rayflow.cli._show_cmd import render_graph
from rayflow.datastore import open_storage, taskrecords
from rayflow.scheduler import ClusterError
from rayflow.scheduler._cluster import check_resources
from rayflow.scheduler.decorators import REGISTRY, StepDecorator, TaskInfo, cache_key_options


@contextlib.contextmanager
def _variable(name: str, value: str):
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


class StampDecorator(StepDecorator):
    """Sets ``STAMP`` while the step runs (in the worker) and retries a failed task once (the
    driver); its options do not enter the cache key."""

    name = "stamp"
    defaults: ClassVar[dict[str, Any]] = {"value": ""}
    cache_relevant = False

    @classmethod
    def wraps_step(cls, attrs: dict[str, Any], task: TaskInfo) -> Any:
        return _variable("STAMP", f"{attrs['value']}:{task.step}:{task.attempt}")

    @classmethod
    def retry_policy(cls, attrs: dict[str, Any], remote: bool) -> tuple[int, float]:
        return 1, 0.0


stamp = make_decorator(StampDecorator)


class StampFlow(FlowSpec):
    @stamp(value="hello")
    @step
    def start(self):
        self.seen = os.environ.get("STAMP")
        if current.retry_count == 0:
            raise ValueError("the first attempt fails")
        self.next(self.end)

    @step
    def end(self):
        self.outside = os.environ.get("STAMP")


def test_a_decorator_defined_in_one_class_is_applied_by_driver_and_worker(run_flow, datastore):
    assert REGISTRY["stamp"] is StampDecorator
    out = run_flow(StampFlow)
    assert out.successful
    assert out.run["start"].task.data.seen == "hello:start:1"  # wraps_step, on the retry
    assert out.run["end"].task.data.outside is None  # only around its own step
    first = taskrecords.read_attempt(
        open_storage(datastore), "StampFlow", out.run_id, "start", "0", 0
    )
    assert first.status == "failed" and first.exception["type"] == "ValueError"


def test_a_new_decorator_is_shown_and_its_cache_relevance_is_its_own():
    graph = build_graph(StampFlow)
    assert "step start  @stamp(value='hello')" in render_graph(graph)
    plan = graph.to_plan()
    assert plan["start"]["decorators"] == {"stamp": {"value": "hello"}}
    assert cache_key_options(plan["start"]) == {}


class OnGpuDecorator(StepDecorator):
    """Asks Ray for a GPU for each task of the step, through ``ray_options`` alone."""

    name = "on_gpu"

    @classmethod
    def ray_options(cls, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"num_gpus": 1.0}


class GpuFlow(FlowSpec):
    @make_decorator(OnGpuDecorator)
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_new_decorators_ray_options_are_what_the_cluster_check_asks_for():
    plan = build_graph(GpuFlow).to_plan()
    node = {"Alive": True, "Resources": {"CPU": 2.0, "memory": 4.0 * 1024 * 1024 * 1024}}
    with pytest.raises(ClusterError, match=r"step 'start' asks for @resources\(cpu=1, gpu=1\)"):
        check_resources(plan, [node])
