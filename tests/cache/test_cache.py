"""Cross-run caching and switch transitions, checked by counting real executions."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest

from rayflow import FlowSpec, Parameter, Runner, cache, current, step
from rayflow.datastore import open_storage, paths, taskrecords


def _log(folder: str) -> None:
    with open(os.path.join(folder, "executions.log"), "a") as f:
        f.write(f"{current.step_name}/{current.task_id}\n")


def _executions(folder: str) -> list[str]:
    path = os.path.join(folder, "executions.log")
    return open(path).read().split() if os.path.exists(path) else []


class CachedFlow(FlowSpec):
    folder = Parameter("folder")
    scale = Parameter("scale", default=1)
    unrelated = Parameter("unrelated", default="a")

    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.square, foreach="items")

    @cache
    @step
    def square(self):
        _log(self.folder)
        self.value = self.input**2 * self.scale
        self.next(self.join)

    @cache
    @step
    def join(self, inputs):
        _log(self.folder)
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        _log(self.folder)


def test_second_run_executes_no_cached_step(run_flow, folder_path):
    first = run_flow(CachedFlow, folder=folder_path)
    assert first.successful and first.cached == []
    again = run_flow(CachedFlow, folder=folder_path)
    assert again.successful
    assert sorted(again.cached) == [
        ("join", "0"),
        ("square", "0"),
        ("square", "1"),
        ("square", "2"),
    ]
    runs = _executions(folder_path)
    assert runs.count("square/0") == 1 and runs.count("join/0") == 1 and runs.count("end/0") == 2
    assert again.run.data.total == 14 if hasattr(again.run.data, "total") else True
    join = again.run["join"].task
    assert join.data.total == 14
    assert join.origin_pathspec == f"CachedFlow/{first.run_id}/join/0"
    meta = taskrecords.read_task(
        open_storage(again.datastore), "CachedFlow", again.run_id, "join", "0"
    )
    assert meta.cached is True and meta.finished


def test_a_parameter_the_step_reads_invalidates_only_that_step(run_flow, folder_path):
    run_flow(CachedFlow, folder=folder_path)
    changed = run_flow(CachedFlow, folder=folder_path, scale=2)
    assert changed.cached == []  # square reads scale; join's inputs changed with it
    assert changed.run["join"].task.data.total == 28
    unrelated = run_flow(CachedFlow, folder=folder_path, scale=2, unrelated="b")
    assert len(unrelated.cached) == 4  # neither cached step reads `unrelated`


def test_no_cache_ignores_every_cache(run_flow, datastore, folder_path):
    run_flow(CachedFlow, folder=folder_path)
    out = Runner(CachedFlow, datastore=datastore, cache=False).run(folder=folder_path)
    assert out.cached == []
    assert _executions(folder_path).count("square/1") == 2


def test_cache_everything_with_the_run_option(run_flow, datastore, folder_path):
    Runner(CachedFlow, datastore=datastore, cache=True).run(folder=folder_path)
    out = Runner(CachedFlow, datastore=datastore, cache=True).run(folder=folder_path)
    assert sorted(s for s, _ in out.cached) == [
        "end",
        "join",
        "square",
        "square",
        "square",
        "start",
    ]


def test_changing_the_step_code_invalidates_it(run_flow, write_flow, folder_path):
    source = """
        from rayflow import FlowSpec, Parameter, cache, current, step

        class CodeFlow(FlowSpec):
            folder = Parameter("folder")

            @step
            def start(self):
                self.base = 10
                self.next(self.work)

            @cache
            @step
            def work(self):
                open(self.folder + "/work.log", "a").write("x")
                self.out = self.base + 1
                self.next(self.later)

            @cache
            @step
            def later(self):
                open(self.folder + "/later.log", "a").write("x")
                self.final = self.out * 2
                self.next(self.end)

            @step
            def end(self):
                pass
    """
    v1 = write_flow(source, "code_v1.py")
    run_flow(v1, folder=folder_path)
    assert len(run_flow(v1, folder=folder_path).cached) == 2
    v2 = write_flow(source.replace("self.base + 1", "self.base + 2"), "code_v2.py")
    out = run_flow(v2, folder=folder_path)
    assert out.cached == []  # work changed; later's input artifact changed with it
    assert out.run["later"].task.data.final == 24
    assert open(os.path.join(folder_path, "work.log")).read() == "xx"
    v3 = write_flow(
        source.replace("self.base = 10", "self.base = 10  # comment only"), "code_v3.py"
    )
    out3 = run_flow(v3, folder=folder_path)
    assert sorted(s for s, _ in out3.cached) == ["later", "work"]  # start re-ran, same artifacts


def test_changing_a_class_constant_invalidates_the_steps_that_could_read_it(
    run_flow, write_flow, folder_path
):
    source = """
        from rayflow import FlowSpec, Parameter, cache, step

        class ConstFlow(FlowSpec):
            folder = Parameter("folder")
            RATE = 3

            @cache
            @step
            def start(self):
                open(self.folder + "/start.log", "a").write("x")
                self.scaled = 10 * self.RATE
                self.next(self.end)

            @step
            def end(self):
                pass
    """
    v1 = write_flow(source, "const_v1.py")
    run_flow(v1, folder=folder_path)
    assert [s for s, _ in run_flow(v1, folder=folder_path).cached] == ["start"]
    out = run_flow(
        write_flow(source.replace("RATE = 3", "RATE = 4"), "const_v2.py"), folder=folder_path
    )
    assert out.cached == [] and out.run.data.scaled == 40 and out.run.data.RATE == 4
    assert open(os.path.join(folder_path, "start.log")).read() == "xx"


class ExpiringFlow(FlowSpec):
    folder = Parameter("folder")

    @cache(expire_after=timedelta(seconds=1))
    @step
    def start(self):
        _log(self.folder)
        self.next(self.end)

    @step
    def end(self):
        pass


def test_expired_entries_are_misses(run_flow, folder_path):
    run_flow(ExpiringFlow, folder=folder_path)
    assert len(run_flow(ExpiringFlow, folder=folder_path).cached) == 1
    time.sleep(1.2)
    assert run_flow(ExpiringFlow, folder=folder_path).cached == []
    assert _executions(folder_path).count("start/0") == 2


class KeyedFlow(FlowSpec):
    folder = Parameter("folder")
    version = Parameter("version", default="v1")
    noise = Parameter("noise", default=0)

    @cache(key=lambda flow: flow.version)
    @step
    def start(self):
        _log(self.folder)
        self.seen = (self.version, self.noise)
        self.next(self.end)

    @step
    def end(self):
        pass


def test_user_defined_key(run_flow, folder_path):
    run_flow(KeyedFlow, folder=folder_path, noise=1)
    same_key = run_flow(KeyedFlow, folder=folder_path, noise=2)
    assert len(same_key.cached) == 1
    assert same_key.run["start"].task.data.seen == ("v1", 1)
    assert run_flow(KeyedFlow, folder=folder_path, version="v2").cached == []


def test_an_entry_whose_blobs_are_gone_is_a_miss(run_flow, datastore, folder_path):
    first = run_flow(CachedFlow, folder=folder_path)
    storage = open_storage(datastore)
    key = first.run["join"].task["total"].sha
    os.remove(os.path.join(datastore, paths.blob_file("CachedFlow", key)))
    again = run_flow(CachedFlow, folder=folder_path)
    assert ("join", "0") not in again.cached and len(again.cached) == 3
    assert again.run["join"].task.data.total == 14
    assert storage.exists(paths.blob_file("CachedFlow", key))


@pytest.fixture
def folder_path(tmp_path):
    path = tmp_path / "marks"
    path.mkdir()
    return str(path)
