"""A task's files on every backend: its blobs and logs first (at once on an object store), then
one record marked finished, with no separate done marker; the next task reads that record
directly by the attempt the driver names. The task body runs in the test's process here (no Ray:
the workers of the session's Ray would not see the test's S3 server)."""

from __future__ import annotations

from dataclasses import replace

from rayflow import FlowSpec, step
from rayflow._prepare import plan_for
from rayflow.datastore import BlobStore, paths, taskrecords
from rayflow.scheduler._identity import TaskSpec
from rayflow.scheduler._task import TaskRun

FLOW = "FanOutWrites"


class FanOutWrites(FlowSpec):
    @step
    def start(self):
        print("fanning out")
        self.items = [f"item {i}" for i in range(12)]
        self.big = b"z" * 300_000
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.out = self.input.upper()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.outs = [i.out for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


def _ctx(storage, plan) -> dict:
    return {
        "flow": FLOW,
        "run_id": "r1",
        "root": storage.url,
        "plan": plan,
        "params": {},
        "user": "tester",
        "tags": [],
        "origin_run_id": None,
        "max_attempts": {},
        "trial": None,
        "reporter": None,
        "max_num_splits": None,
        "flow_dir": None,
        "code_files": {},
    }


def test_a_task_writes_its_blobs_and_logs_then_one_finished_record(storage):
    _, plan = plan_for(FanOutWrites)
    ctx = _ctx(storage, plan)
    start = TaskRun(ctx, FanOutWrites, TaskSpec("start").to_wire(), None).run()
    assert start.ok and start.foreach.n == 12 and start.attempt == 0
    task_dir = paths.task_dir(FLOW, "r1", "start", "0")
    assert storage.list_dir(task_dir) == ["meta.json", "stdout"]  # no DONE file
    record = taskrecords.read_finished(storage, FLOW, "r1", "start", "0", attempt=0)
    assert record is not None and record.format == 2 and record.next == ["work"]
    blobs = BlobStore(storage, FLOW)
    needed = list(record.artifacts.values()) + start.foreach.items + [record.foreach["items"]]
    assert all(blobs.exists(k) for k in needed)  # everything the record points at is stored
    assert record.sizes["big"] == blobs.get_payload(record.artifacts["big"]).nbytes
    assert blobs.get(record.foreach["items"]) == start.foreach.items

    work = TaskSpec(
        "work", (("start", 3, 12, start.foreach.items[3]),), (("start", "0"),), input_attempts=(0,)
    )
    assert TaskRun(ctx, FanOutWrites, work.to_wire(), None).run().ok
    assert taskrecords.read_task(storage, FLOW, "r1", "work", "3").finished


def test_a_join_reads_the_attempt_of_each_input_that_the_driver_names(storage):
    _, plan = plan_for(FanOutWrites)
    ctx = _ctx(storage, plan)
    start = TaskRun(ctx, FanOutWrites, TaskSpec("start").to_wire(), None).run()
    specs = [
        TaskSpec(
            "work",
            (("start", i, 2, start.foreach.items[i]),),
            (("start", "0"),),
            input_attempts=(0,),
        )
        for i in range(2)
    ]
    TaskRun(ctx, FanOutWrites, specs[0].to_wire(), None).run()
    # split 1 finished on its second attempt: attempt 0 left a failed record
    TaskRun(ctx, FanOutWrites, replace(specs[1], attempt=1).to_wire(), None).run()
    failed = taskrecords.TaskRecord(
        flow=FLOW,
        run_id="r1",
        step="work",
        task_id="1",
        status="failed",
        exception={"type": "ValueError", "message": "x", "traceback": "x"},
    )
    taskrecords.write(storage, failed)
    join = TaskSpec("join", (), (("work", "0"), ("work", "1")), input_attempts=(0, 1))
    assert TaskRun(ctx, FanOutWrites, join.to_wire(), None).run().ok
    record = taskrecords.read_task(storage, FLOW, "r1", "join", "0")
    assert BlobStore(storage, FLOW).get(record.artifacts["outs"]) == ["ITEM 0", "ITEM 1"]


def test_one_cloning_function_serves_resume_and_cache_and_trusts_only_finished_tasks(storage):
    from rayflow.scheduler._clone import clone_task

    _, plan = plan_for(FanOutWrites)
    ctx = _ctx(storage, plan)
    start = TaskRun(ctx, FanOutWrites, TaskSpec("start").to_wire(), None).run()
    spec = TaskSpec("start")
    resumed = clone_task(storage, FLOW, "r1", "0", spec, "r2", same_position=True)
    assert resumed.ok and resumed.cloned and resumed.foreach == start.foreach
    clone = taskrecords.read_task(storage, FLOW, "r2", "start", "0")
    assert (
        clone.finished
        and clone.cloned
        and clone.origin == {"pathspec": f"{FLOW}/r1/start/0", "attempt": 0}
    )
    assert storage.list_dir(paths.task_dir(FLOW, "r2", "start", "0")) == ["meta.json"]  # one write
    # a clone of the clone points at the task that ran, however many generations back
    cached = clone_task(storage, FLOW, "r2", "0", spec, "r3", check_blobs=True, cache_key="ab" * 32)
    assert cached.cached and not cached.cloned
    again = taskrecords.read_task(storage, FLOW, "r3", "start", "0")
    assert again.origin["pathspec"] == f"{FLOW}/r1/start/0" and again.cache_key == "ab" * 32
    # an unfinished source (its record not marked finished) is never cloned
    record = taskrecords.read_task(storage, FLOW, "r1", "start", "0")
    record.finished, record.status = False, "failed"
    taskrecords.write(storage, record)
    assert clone_task(storage, FLOW, "r1", "0", spec, "r4", same_position=True) is None
    # a task at another foreach position is not the same task for resume
    moved = TaskSpec("start", (("other", 0, 1, None),))
    assert clone_task(storage, FLOW, "r2", "0", moved, "r5", same_position=True) is None
