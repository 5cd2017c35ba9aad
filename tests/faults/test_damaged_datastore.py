"""A damaged datastore never poisons later runs: a corrupt or truncated blob is rewritten by
the next run that produces its value, a corrupt blob a resume needs names the task that wrote
it, and a damaged task record makes resume run that task again."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from rayflow import Runner
from rayflow._errors import ResumeError
from rayflow._resuming import resume_run
from rayflow.datastore import BlobStore, open_storage, paths, records

from .conftest import executions, touch, untouch
from .damage_flows import BlobsFlow
from .flows import SplitsFlow

SIZE = 2 << 20


def _blob_path(datastore: str, run, name: str) -> str:
    key = run["start"]["0"].artifact_keys[name]
    return os.path.join(datastore, paths.blob_file("BlobsFlow", key))


def _flip(path: str) -> None:
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))


def _intact(datastore: str, run, name: str) -> bool:
    key = run["start"]["0"].artifact_keys[name]
    try:
        BlobStore(open_storage(datastore), "BlobsFlow").get_payload(key)
        return True
    except Exception:  # noqa: BLE001 - corrupt or missing
        return False


def test_a_run_after_a_byte_flipped_in_a_blob_rewrites_it_and_succeeds(run_flow, datastore, folder):
    first = run_flow(BlobsFlow, folder=folder)
    assert first.successful
    _flip(_blob_path(datastore, first.run, "small"))
    assert not _intact(datastore, first.run, "small")

    again = run_flow(BlobsFlow, folder=folder)
    assert again.successful, again.failures
    assert again.run.data.total == sum(range(300)) + SIZE
    assert _intact(datastore, first.run, "small")


def test_a_run_after_a_large_blob_was_truncated_rewrites_it_and_succeeds(
    run_flow, datastore, folder
):
    first = run_flow(BlobsFlow, folder=folder)
    path = _blob_path(datastore, first.run, "large")
    os.truncate(path, os.path.getsize(path) // 3)

    again = run_flow(BlobsFlow, folder=folder)
    assert again.successful, again.failures
    assert os.path.getsize(path) > SIZE
    assert _intact(datastore, first.run, "large")


def test_a_corrupt_blob_needed_by_a_resume_names_its_task_and_resume_step_repairs_it(
    run_flow, datastore, folder
):
    touch(folder, "fail-use")
    first = run_flow(BlobsFlow, folder=folder)
    assert first.status == "failed"
    _flip(_blob_path(datastore, first.run, "large"))  # same size: only a full read can tell
    untouch(folder, "fail-use")

    second = Runner(BlobsFlow, datastore=datastore).resume()
    assert second.status == "failed"
    [(label, error)] = second.failures
    assert label == "use/0"
    message = error["message"]
    assert "is corrupt" in message and "\n" not in message
    assert f"written by task BlobsFlow/{second.run_id}/start/0" in message
    assert " start` runs it again" in message and "rayflow resume " in message

    third = Runner(BlobsFlow, datastore=datastore).resume(step="start")
    assert third.successful, third.failures
    assert third.run.data.total == sum(range(300)) + SIZE
    assert _intact(datastore, first.run, "large")


def test_resume_runs_again_a_split_whose_meta_json_is_damaged(run_flow, datastore, folder):
    first = run_flow(SplitsFlow, folder=folder, n=4)
    assert first.successful
    meta = os.path.join(datastore, paths.meta_file("SplitsFlow", first.run_id, "work", "2"))
    with open(meta, "r+b") as f:
        f.truncate(os.path.getsize(meta) // 2)

    second = Runner(SplitsFlow, datastore=datastore).resume()
    assert second.successful, second.failures
    assert sorted(second.executed) == [("end", "0"), ("join", "0"), ("work", "2")]
    assert Counter(executions(folder))["work/2/0"] == 2
    assert second.run.data.total == sum(i * i for i in range(4))


def test_resume_without_origin_passes_over_a_latest_run_whose_run_json_is_damaged(
    run_flow, datastore, folder
):
    touch(folder, "fail-1")
    failed = run_flow(SplitsFlow, folder=folder, n=3)
    assert failed.status == "failed"
    untouch(folder, "fail-1")
    later = run_flow(SplitsFlow, folder=folder, n=3)
    assert later.successful
    with open(os.path.join(datastore, paths.run_file("SplitsFlow", later.run_id)), "w"):
        pass  # emptied: the latest run's record is unreadable

    notes: list[str] = []
    resumed = resume_run(SplitsFlow, None, datastore=datastore, notify=notes.append)
    assert resumed.successful, resumed.failures
    assert (
        records.read_run(open_storage(datastore), "SplitsFlow", resumed.run_id)["origin_run_id"]
        == failed.run_id
    )
    assert sorted(resumed.executed) == [("end", "0"), ("join", "0"), ("work", "1")]
    assert any(
        f"run SplitsFlow/{later.run_id} passed over" in note and "run.json" in note
        for note in notes
    )


def test_resume_of_a_run_whose_parameter_blob_is_corrupt_names_the_parameter(
    run_flow, datastore, folder
):
    first = run_flow(SplitsFlow, folder=folder, n=3)
    assert first.successful
    storage = open_storage(datastore)
    key = records.read_run(storage, "SplitsFlow", first.run_id)["parameter_keys"]["n"]
    with open(os.path.join(datastore, paths.blob_file("SplitsFlow", key)), "wb") as f:
        f.write(b"junk")

    with pytest.raises(ResumeError) as caught:
        Runner(SplitsFlow, datastore=datastore).resume(origin_run_id=first.run_id)
    message = str(caught.value)
    assert f"parameter 'n' of run SplitsFlow/{first.run_id} cannot be read" in message
    assert "is corrupt" in message and "\n" not in message

    again = run_flow(SplitsFlow, folder=folder, n=3)  # the same value: its blob is written again
    assert again.successful
    resumed = Runner(SplitsFlow, datastore=datastore).resume(origin_run_id=first.run_id)
    assert resumed.successful and resumed.executed == []
