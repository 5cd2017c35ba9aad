"""Tag mutations of one run from many writers at once lose nothing (``datastore._tags``): each
mutation is an object of its own, folded by readers over run.json's tags. Local disk and S3."""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor

from rayflow.datastore import listing, open_storage, records

FLOW, RUN = "TagFlow", "20261130T120000-abcd"
WRITERS, ROUNDS = 8, 2


def _mutate(storage, writer: int) -> None:
    for i in range(ROUNDS):
        mine = f"w{writer}-{i}"
        tags = records.update_run_tags(storage, FLOW, RUN, add=[mine, f"tmp{writer}"])
        assert mine in tags  # a writer sees its own mutation at once
        tags = records.update_run_tags(storage, FLOW, RUN, remove=[f"tmp{writer}"])
        assert f"tmp{writer}" not in tags and mine in tags
        # every writer the same tag: each sees what its own mutation made
        assert "shared" in records.update_run_tags(storage, FLOW, RUN, add=["shared"])
        assert "shared" not in records.update_run_tags(storage, FLOW, RUN, remove=["shared"])


def _create(storage) -> None:
    records.create_run(
        storage,
        FLOW,
        RUN,
        {
            "flow": FLOW,
            "run_id": RUN,
            "status": "successful",
            "tags": ["initial", "dropped"],
            "system_tags": ["user:x"],
        },
    )


def _expected() -> set[str]:
    return {"initial"} | {f"w{w}-{i}" for w in range(WRITERS) for i in range(ROUNDS)}


def test_concurrent_tag_mutations_from_many_threads_lose_no_tag(storage):
    _create(storage)
    records.update_run_tags(storage, FLOW, RUN, remove=["dropped"])
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        list(pool.map(lambda w: _mutate(storage, w), range(WRITERS)))
    assert set(records.read_run(storage, FLOW, RUN)["tags"]) == _expected()
    assert set(listing.read_runs(storage, FLOW, [RUN])[RUN]["tags"]) == _expected()
    assert records.read_run(storage, FLOW, RUN)["system_tags"] == ["user:x"]


def _process_writer(url: str, writer: int) -> None:
    _mutate(open_storage(url), writer)


def test_concurrent_tag_mutations_from_many_processes_lose_no_tag(tmp_path):
    url = str(tmp_path / "ds")
    storage = open_storage(url)
    _create(storage)
    records.update_run_tags(storage, FLOW, RUN, remove=["dropped"])
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_process_writer, args=(url, w)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    assert set(records.read_run(storage, FLOW, RUN)["tags"]) == _expected()


def test_a_run_recorded_before_tag_events_reads_its_tags_and_takes_new_mutations(tmp_path):
    """Older datastores kept mutations in run.json itself: still read, and mutable."""
    root = tmp_path / "ds"
    run_dir = root / FLOW / "runs" / RUN
    os.makedirs(run_dir)
    (run_dir / "run.json").write_text(
        json.dumps(
            {
                "flow": FLOW,
                "run_id": RUN,
                "status": "successful",
                "tags": ["old", "older"],
                "system_tags": [],
            }
        )
    )
    storage = open_storage(str(root))
    assert records.read_run(storage, FLOW, RUN)["tags"] == ["old", "older"]
    assert records.update_run_tags(storage, FLOW, RUN, remove=["older"], add=["new"]) == [
        "old",
        "new",
    ]
    assert json.loads((run_dir / "run.json").read_text())["tags"] == [
        "old",
        "older",
    ]  # not rewritten


def test_listing_many_runs_lists_the_tag_events_of_all_of_them_at_once(storage):
    """Listing a flow's runs must not pay one listing per run for its tag events (on S3 that
    was 1,000 LISTs for 1,000 runs): the events of every run sit in one folder of the flow."""
    run_ids = [f"20261130T1200{i:02d}-abcd" for i in range(6)]
    for i, run_id in enumerate(run_ids):
        records.create_run(
            storage,
            FLOW,
            run_id,
            {"flow": FLOW, "run_id": run_id, "status": "successful", "tags": ["start"]},
        )
        records.update_run_tags(storage, FLOW, run_id, add=[f"mine{i}"], remove=["start"])
    listed: list[str] = []
    real = storage.list_dir
    storage.list_dir = lambda path: listed.append(path) or real(path)
    try:
        found = listing.read_runs(storage, FLOW, run_ids)
    finally:
        del storage.list_dir
    assert [found[r]["tags"] for r in run_ids] == [[f"mine{i}"] for i in range(6)]
    assert len([p for p in listed if "tag-events" in p]) == 1, listed
