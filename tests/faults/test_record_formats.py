"""Task and run records carry a format version; datastores written before it (format 1: no
``format`` key, a ``DONE`` file per finished task) are still read, and resumed, correctly."""

from __future__ import annotations

import json
import os

from rayflow import Run, Runner, namespace
from rayflow.datastore import TaskRecord, open_storage, taskrecords

from .conftest import executions, touch, untouch
from .flows import SplitsFlow


def _dump(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"))


def _to_format_1(run_dir: str, keep_done: set[str]) -> None:
    """Rewrite a run as the code before format 2 wrote it: run.json and meta files without
    ``format``/``finished``/``sizes``, and a ``DONE`` file naming the finished attempt, written only
    for the tasks in ``keep_done`` (``step/task_id``): the others look like a task killed between
    its record and its ``DONE``."""
    with open(os.path.join(run_dir, "run.json")) as f:
        run = json.load(f)
    run.pop("format")
    with open(os.path.join(run_dir, "run.json"), "w") as f:
        f.write(_dump(run))
    for step in os.listdir(run_dir):
        if not os.path.isdir(os.path.join(run_dir, step)):
            continue
        for task_id in os.listdir(os.path.join(run_dir, step)):
            folder = os.path.join(run_dir, step, task_id)
            for name in os.listdir(folder):
                if not (name.startswith("meta") and name.endswith(".json")):
                    continue
                with open(os.path.join(folder, name)) as f:
                    meta = json.load(f)
                finished = meta.pop("finished", False)
                meta.pop("format"), meta.pop("sizes", None)
                with open(os.path.join(folder, name), "w") as f:
                    f.write(_dump(meta))
                if finished and f"{step}/{task_id}" in keep_done:
                    with open(os.path.join(folder, "DONE"), "w") as f:
                        f.write(_dump({"attempt": meta["attempt"]}))


def test_a_format_1_datastore_is_read_and_resumed(run_flow, datastore, folder):
    touch(folder, "fail-3")
    first = run_flow(SplitsFlow, folder=folder, n=6)
    assert [label for label, _ in first.failures] == ["work/3"]
    untouch(folder, "fail-3")
    run_dir = os.path.join(datastore, "SplitsFlow", "runs", first.run_id)
    # split 4 finished, but its DONE was never written: format 1 says it is not done
    _to_format_1(run_dir, keep_done={"start/0", "work/0", "work/1", "work/2", "work/5"})

    namespace(None)
    run = Run(f"SplitsFlow/{first.run_id}")
    assert not run.successful and not run.finished
    assert run["work"]["5"].finished and run["work"]["5"].data.square == 25
    assert not run["work"]["4"].finished
    assert not run["work"]["3"].finished and "told to fail" in run["work"]["3"].exception.exception
    storage = open_storage(datastore)
    assert taskrecords.read_task(storage, "SplitsFlow", first.run_id, "work", "5").format == 1

    second = Runner(SplitsFlow, datastore=datastore).resume()
    assert second.successful
    assert sorted(second.executed) == [("end", "0"), ("join", "0"), ("work", "3"), ("work", "4")]
    assert sorted(second.cloned) == [("start", "0")] + [("work", str(i)) for i in (0, 1, 2, 5)]
    assert executions(folder).count("work/4/0") == 2
    assert second.run.data.total == sum(i * i for i in range(6))
    clone = taskrecords.read_task(storage, "SplitsFlow", second.run_id, "work", "5")
    assert clone.format == 2 and clone.finished and clone.origin["pathspec"].endswith("/work/5")
    assert not os.path.exists(
        os.path.join(datastore, "SplitsFlow", "runs", second.run_id, "work", "5", "DONE")
    )
    with open(os.path.join(datastore, "SplitsFlow", "runs", second.run_id, "run.json")) as f:
        assert json.load(f)["format"] == 2


def test_a_record_keeps_the_fields_it_does_not_know(tmp_path):
    storage = open_storage(str(tmp_path / "ds"))
    record = TaskRecord.from_json(
        {
            "flow": "F",
            "run_id": "r1",
            "step": "a",
            "task_id": "0",
            "format": 2,
            "finished": True,
            "status": "done",
            "added_later": {"x": 1},
        }
    )
    taskrecords.write(storage, record)
    again = taskrecords.read_task(storage, "F", "r1", "a", "0")
    assert again.finished and again.extra == {"added_later": {"x": 1}}
    assert again.to_json()["added_later"] == {"x": 1}
