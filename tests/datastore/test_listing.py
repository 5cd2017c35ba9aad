"""Listings read many records at once: a flow's runs and a step's tasks come from batched reads
(concurrent requests on an object store) and say exactly what the one-record readers say."""

from __future__ import annotations

import json
import time

import pytest

from rayflow import Flow, Step, metadata, namespace
from rayflow._client import DamagedRecord
from rayflow.datastore import DamagedRecordError, listing, open_storage, paths, records, taskrecords


@pytest.fixture
def client_reads():
    """Point the client at a datastore URL for one test, every namespace visible."""

    def point(url: str) -> None:
        metadata(url)
        namespace(None)

    yield point
    metadata(None)
    namespace(...)  # back to the default (the user's namespace, computed on first use)


def _runs(storage, flow: str, count: int) -> list[str]:
    """``count`` finished runs; run 3's record is damaged, run 4 is running with a driver that
    stopped beating long ago (so it reads as crashed). Oldest first."""
    ids = [f"20261130T1000{i:02d}-aaaa" for i in range(count)]
    files = {}
    for i, rid in enumerate(ids):
        record = {"status": "successful", "created_at": time.time() - 1000 + i, "tags": [f"n{i}"]}
        if i == 4 and count > 4:
            record = {
                "status": "running",
                "created_at": time.time() - 10_000,
                "heartbeat_interval": 1,
            }
        files[paths.run_file(flow, rid)] = json.dumps(record).encode()
    if count > 3:
        files[paths.run_file(flow, ids[3])] = b'{"status": "succ'
    storage.write_many(files)
    return ids


def _tasks(storage, flow: str, run_id: str, count: int) -> None:
    """``count`` tasks of step ``work``. Tasks 0-7 are format 1 (a ``DONE`` marker names the
    attempt that counts): task 5 finished at its second attempt, task 6 is in flight at its second
    attempt (no marker), task 7's record is damaged. Tasks 8 and up are format 2 (the record says
    whether it finished): 8 finished, 9 is in flight."""
    files = {}
    for i in range(count):
        t = str(i)
        meta = {
            "flow": flow,
            "run_id": run_id,
            "attempt": 0,
            "step": "work",
            "task_id": t,
            "started_at": 1.0,
            "finished_at": 2.0,
        }
        if i >= 8:
            meta.update(format=2, finished=i != 9, status="done" if i != 9 else "running")
            files[paths.meta_file(flow, run_id, "work", t)] = json.dumps(meta).encode()
            continue
        files[paths.meta_file(flow, run_id, "work", t)] = json.dumps(meta).encode()
        if i in (5, 6):
            files[paths.meta_file(flow, run_id, "work", t, 1)] = json.dumps(
                dict(meta, attempt=1)
            ).encode()
        if i == 7:
            files[paths.meta_file(flow, run_id, "work", t)] = b"not json"
        if i != 6:
            files[paths.done_file(flow, run_id, "work", t)] = json.dumps(
                {"attempt": 1 if i == 5 else 0}
            ).encode()
    storage.write_many(files)


def test_batched_readers_answer_as_the_one_record_readers(storage):
    ids = _runs(storage, "ListFlow", 8)
    _tasks(storage, "ListFlow", ids[0], 10)
    runs = listing.read_runs(storage, "ListFlow", ids)
    assert list(runs) == ids
    for rid in ids:
        if rid == ids[3]:
            assert isinstance(runs[rid], DamagedRecordError) and "run.json is damaged" in str(
                runs[rid]
            )
            continue
        one = records.with_effective_status(
            storage, "ListFlow", rid, records.read_run(storage, "ListFlow", rid)
        )
        assert {k: v for k, v in runs[rid].items() if k != "last_heartbeat"} == {
            k: v for k, v in one.items() if k != "last_heartbeat"
        }
    assert runs[ids[4]]["status"] == "crashed"
    task_ids = [*records.list_tasks(storage, "ListFlow", ids[0], "work"), "99"]
    tasks = listing.read_tasks(storage, "ListFlow", ids[0], "work", task_ids)
    assert tasks["99"] is None
    assert isinstance(tasks["7"], DamagedRecordError) and "meta.json is damaged" in str(tasks["7"])
    for t in task_ids[:-1]:
        if t == "7":
            continue
        assert tasks[t] == taskrecords.read_task(storage, "ListFlow", ids[0], "work", t)
    assert tasks["5"].attempt == 1 and tasks["5"].finished
    assert tasks["6"].attempt == 1 and not tasks["6"].finished
    assert tasks["0"].finished and tasks["8"].finished and not tasks["9"].finished


def test_a_flows_runs_on_a_slow_s3_are_read_together_and_listed_newest_first(
    s3_slow_url, s3_slow_proxy, client_reads, capsys
):
    storage = open_storage(s3_slow_url)
    ids = _runs(storage, "ListFlow", 40)
    client_reads(s3_slow_url)
    Flow("ListFlow")  # the bucket check and the connections are made
    s3_slow_proxy.reset_counts()
    runs = Flow("ListFlow").runs()
    assert [r.id for r in runs] == [rid for rid in reversed(ids) if rid != ids[3]]
    assert s3_slow_proxy.peak_in_flight >= 8  # one batch, not one request after another
    assert "run ListFlow/20261130T100003-aaaa skipped" in capsys.readouterr().err
    assert {r.id: r._record["status"] for r in runs}[ids[4]] == "crashed"
    assert [r.id for r in Flow("ListFlow").runs("n7")] == [ids[7]]


def test_a_steps_tasks_on_a_slow_s3_come_with_their_records_read_together(
    s3_slow_url, s3_slow_proxy, client_reads
):
    storage = open_storage(s3_slow_url)
    (run_id,) = _runs(storage, "TaskFlow", 1)
    _tasks(storage, "TaskFlow", run_id, 40)
    client_reads(s3_slow_url)
    step = Step(f"TaskFlow/{run_id}/work")
    s3_slow_proxy.reset_counts()
    tasks = step.tasks()
    assert s3_slow_proxy.peak_in_flight >= 8
    s3_slow_proxy.reset_counts()
    in_flight = {"6", "9"}
    states = {t.id: (t.finished, t.current_attempt) for t in tasks if t.id not in in_flight | {"7"}}
    assert s3_slow_proxy.requests == 0  # every finished task's record came with the listing
    assert [t.id for t in tasks] == [str(i) for i in range(40)]
    assert states["5"] == (True, 1) and states["0"] == (True, 0) and states["8"] == (True, 0)
    # a task in flight is read afresh when asked: its record may have changed since the listing
    assert (tasks[6].finished, tasks[6].current_attempt) == (False, 1) and not tasks[9].finished
    with pytest.raises(DamagedRecord, match="meta.json is damaged"):
        tasks[7].current_attempt  # a damaged record is read (and named) on first use
