"""What a run leaves in the datastore: readable records marked finished, blobs stored once."""

import json
import os

from rayflow import FlowSpec, Parameter, step


class LayoutFlow(FlowSpec):
    alpha = Parameter("alpha", default=1)

    @step
    def start(self):
        self.big = list(range(100_000))
        self._private = "underscore"
        self.items = ["p", "q"]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        print(f"working on {self.input}")
        self.n = len(self.big)
        self.private_seen = self._private
        self.next(self.join)

    @step
    def join(self, inputs):
        self.big = inputs[0].big
        self.next(self.end)

    @step
    def end(self):
        pass


def _files(root):
    out = set()
    for folder, _, names in os.walk(root):
        for name in names:
            out.add(os.path.relpath(os.path.join(folder, name), root))
    return out


def test_run_json_records_status_parameters_user_and_tags(ray_session, datastore):
    from rayflow import Runner

    out = Runner(LayoutFlow, datastore=datastore, tags=["exp1", "fast"]).run(alpha=4)
    assert out.successful
    record = json.loads(
        open(os.path.join(datastore, "LayoutFlow", "runs", out.run_id, "run.json")).read()
    )
    assert record["status"] == "successful"
    assert record["parameters"] == {"alpha": 4}
    assert record["user"] == "tester"
    assert set(record["tags"]) == {"exp1", "fast"}
    assert record["run_id"] == out.run_id
    assert record["finished_at"] >= record["created_at"]
    assert out.run.user_tags == frozenset({"exp1", "fast"})
    assert "user:tester" in out.run.system_tags


def test_every_task_has_a_finished_record_and_its_logs(run_flow, datastore):
    out = run_flow(LayoutFlow)
    assert out.successful
    run_dir = os.path.join(datastore, "LayoutFlow", "runs", out.run_id)
    files = _files(run_dir)
    tasks = [("start", "0"), ("work", "0"), ("work", "1"), ("join", "0"), ("end", "0")]
    for step_name, task_id in tasks:
        assert f"{step_name}/{task_id}/meta.json" in files
        assert f"{step_name}/{task_id}/DONE" not in files  # format 2: the record is the done mark
        with open(os.path.join(run_dir, step_name, task_id, "meta.json")) as f:
            record = json.load(f)
        assert record["format"] == 2 and record["finished"] is True and record["status"] == "done"
    assert {f.split("/")[0] for f in files if "/" in f} == {"start", "work", "join", "end"}
    meta = json.loads(open(os.path.join(run_dir, "work", "1", "meta.json")).read())
    assert meta["step"] == "work" and meta["task_id"] == "1"
    assert set(meta["artifacts"]) >= {"n", "big", "items", "alpha", "_private"}
    assert open(os.path.join(run_dir, "work", "1", "stdout")).read() == "working on q\n"
    assert out.run["work"]["1"].stdout == "working on q\n"


def test_an_unchanged_artifact_passed_through_several_steps_is_stored_once(run_flow, datastore):
    out = run_flow(LayoutFlow)
    run = out.run
    keys = {
        run["start"].task["big"].sha,
        run["work"]["0"]["big"].sha,
        run["work"]["1"]["big"].sha,
        run["join"].task["big"].sha,
        run["end"].task["big"].sha,
    }
    assert len(keys) == 1
    key = keys.pop()
    blobs = [f for f in _files(os.path.join(datastore, "LayoutFlow", "blobs"))]
    assert f"{key[:2]}/{key}" in blobs
    # exactly one blob holds the big list: every other blob is much smaller
    big_blobs = [
        b
        for b in blobs
        if os.path.getsize(os.path.join(datastore, "LayoutFlow", "blobs", b)) > 50_000
    ]
    assert big_blobs == [f"{key[:2]}/{key}"]
    assert run.data.big == list(range(100_000))


def test_artifacts_named_with_one_underscore_are_persisted(run_flow):
    out = run_flow(LayoutFlow)
    for task in (out.run["start"].task, out.run["work"]["1"]):
        assert "_private" in task
        assert task["_private"].data == "underscore"
    assert out.run["work"]["0"].data.private_seen == "underscore"


def test_two_runs_of_one_flow_get_distinct_sorted_run_ids(run_flow, datastore):
    first = run_flow(LayoutFlow)
    second = run_flow(LayoutFlow)
    assert first.run_id != second.run_id
    assert sorted(os.listdir(os.path.join(datastore, "LayoutFlow", "runs"))) == sorted(
        [first.run_id, second.run_id]
    )
    assert first.run_id <= second.run_id
