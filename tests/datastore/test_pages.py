"""Done pages: copies of many finished task records in one file per step, so readers of
thousands of tasks (joins, resume, listings) pay a few requests, not one per task; the tasks'
own records stay the truth, and a missing or damaged page only means reading them one by one."""

from __future__ import annotations

from rayflow.datastore import TaskRecord, listing, open_storage, pages, paths, taskrecords
from rayflow.scheduler import _inputs


def _record(
    task_id: str, finished: bool = True, run_id: str = "r1", step: str = "work", attempt: int = 0
) -> TaskRecord:
    return TaskRecord(
        flow="PageFlow",
        run_id=run_id,
        step=step,
        task_id=task_id,
        attempt=attempt,
        status="done" if finished else "failed",
        finished=finished,
        artifacts={"square": f"{int(task_id):064x}"},
        frames=[["start", int(task_id), 40, "k"]],
    )


def _write_tasks(storage, count: int, unfinished: frozenset[int] = frozenset()) -> pages.PageWriter:
    writer = pages.PageWriter(storage, "PageFlow", "r1")
    for i in range(count):
        record = _record(str(i), finished=i not in unfinished)
        taskrecords.write(storage, record)
        writer.add(record.to_json())
    writer.add(
        _record("0", run_id="other").to_json()
    )  # another run's record: never in this run's pages
    writer.flush()
    return writer


def test_pages_hold_the_finished_records_of_a_step_and_nothing_else(storage):
    _write_tasks(storage, 40, unfinished=frozenset({3, 17}))
    held = pages.read_pages(storage, "PageFlow", "r1", ["work", "start"])
    assert held["start"] == {}
    assert sorted(held["work"], key=int) == [str(i) for i in range(40) if i not in (3, 17)]
    for task_id, record in held["work"].items():
        assert (
            record.to_json()
            == taskrecords.read_task(storage, "PageFlow", "r1", "work", task_id).to_json()
        )
    # the pages sit apart from the steps: a listing of the run's steps does not show them
    from rayflow.datastore import records

    assert records.list_steps(storage, "PageFlow", "r1") == ["work"]


def test_a_step_with_few_tasks_gets_no_page(storage):
    _write_tasks(storage, pages.WORTH_IT - 1)
    assert storage.list_dir(paths.pages_dir("PageFlow", "r1")) == []


def test_a_damaged_page_is_passed_over_and_its_tasks_are_read_from_their_records(storage):
    _write_tasks(storage, 40)
    storage.write_atomic(paths.page_file("PageFlow", "r1", "work", 0), b'{"format": 1, "recor')
    assert pages.read_pages(storage, "PageFlow", "r1", "work")["work"] == {}
    found = listing.read_tasks(storage, "PageFlow", "r1", "work", [str(i) for i in range(40)])
    assert all(isinstance(r, TaskRecord) and r.finished for r in found.values())


def test_a_page_entry_that_is_not_a_finished_record_of_this_run_and_step_is_ignored(storage):
    import json

    good = _record("1").to_json()
    entries = [
        good,
        _record("2", finished=False).to_json(),
        _record("3", run_id="r0").to_json(),
        _record("4", step="other").to_json(),
        {"task_id": "5"},
        "junk",
    ]
    page = {"format": 1, "records": entries}
    storage.write_atomic(paths.page_file("PageFlow", "r1", "work", 0), json.dumps(page).encode())
    assert list(pages.read_pages(storage, "PageFlow", "r1", "work")["work"]) == ["1"]


def test_a_listing_on_a_slow_s3_takes_finished_tasks_from_the_pages(s3_slow_url, s3_slow_proxy):
    storage = open_storage(s3_slow_url)
    _write_tasks(storage, 200, unfinished=frozenset({7}))
    ids = [str(i) for i in range(200)]
    s3_slow_proxy.reset_counts()
    found = listing.read_tasks(storage, "PageFlow", "r1", "work", ids)
    # one listing and one read of the pages, then task 7 alone (DONE, attempts, record)
    assert s3_slow_proxy.requests <= 6
    assert [t for t in ids if found[t].finished] == [t for t in ids if t != "7"]
    assert found["7"].status == "failed"


def test_a_join_reads_its_inputs_from_the_pages_and_reads_alone_only_what_they_miss(
    s3_slow_url, s3_slow_proxy
):
    storage = open_storage(s3_slow_url)
    _write_tasks(storage, 100)
    # input 5 is named at attempt 1 (a retry the pages do not hold): it is read by itself
    retry = _record("5", attempt=1)
    taskrecords.write(storage, retry)
    inputs = [("work", str(i)) for i in range(100)]
    attempts = [1 if i == 5 else 0 for i in range(100)]
    alone: list[int] = []

    def read_one(i: int) -> TaskRecord:
        alone.append(i)
        return taskrecords.read_finished(storage, "PageFlow", "r1", "work", str(i), attempts[i])

    s3_slow_proxy.reset_counts()
    got = _inputs.of_join(storage, "PageFlow", "r1", inputs, attempts, read_one)
    assert alone == [5]
    assert s3_slow_proxy.requests <= 4
    assert [r.task_id for r in got] == [str(i) for i in range(100)]
    assert got[5].attempt == 1 and got[6].attempt == 0
    assert got[42].artifacts == {"square": f"{42:064x}"}


def test_a_step_paged_in_many_small_pages_is_not_read_for_a_few_tasks(storage):
    """The inner step of a nested foreach gets a page per inner join: a join over 20 of its
    tasks reads them alone rather than every page of the step."""
    writer = pages.PageWriter(storage, "PageFlow", "r1")
    for i in range(100):
        writer.add(_record(str(i)).to_json())
        if i % 20 == 19:
            writer.flush()
    assert len(storage.list_dir(paths.pages_dir("PageFlow", "r1"))) == 5
    assert pages.read_pages(storage, "PageFlow", "r1", "work", for_tasks=20)["work"] == {}
    assert len(pages.read_pages(storage, "PageFlow", "r1", "work")["work"]) == 100


def test_a_paged_clone_is_read_listed_and_kept_like_a_task_with_its_own_record(storage):
    """The clones of a large resume on an object store have no record file: their page is their
    record, and every reader follows it."""
    from rayflow.datastore import BlobStore, gc, pack, records

    blobs = BlobStore(storage, "PageFlow")
    keys = [blobs.put_packed(pack(f"square {i}", i * i)) for i in range(30)]
    clones = [
        TaskRecord(
            flow="PageFlow",
            run_id="r1",
            step="work",
            task_id=str(i),
            status="done",
            finished=True,
            artifacts={"square": keys[i]},
            origin={"pathspec": f"PageFlow/r0/work/{i}", "attempt": 0},
            cloned=True,
        )
        for i in range(30)
    ]
    pages.PageWriter(storage, "PageFlow", "r1").write_now([c.to_json() for c in clones])
    taskrecords.write(storage, _record("30"))  # a task that ran, with its own record
    assert not storage.list_dir(paths.task_dir("PageFlow", "r1", "work", "5"))

    got = taskrecords.read_task(storage, "PageFlow", "r1", "work", "5")
    assert got.to_json() == clones[5].to_json()
    assert (
        taskrecords.read_finished(storage, "PageFlow", "r1", "work", "5", 0).origin
        == clones[5].origin
    )
    assert taskrecords.attempts(storage, "PageFlow", "r1", "work", "5") == [0]
    assert records.list_tasks(storage, "PageFlow", "r1", "work") == [str(i) for i in range(31)]
    few = listing.read_tasks(storage, "PageFlow", "r1", "work", ["2", "30"])
    assert few["2"].artifacts == {"square": keys[2]} and few["30"].finished
    many = listing.read_tasks(storage, "PageFlow", "r1", "work", [str(i) for i in range(31)])
    assert all(r.finished for r in many.values())
    # gc keeps the blobs a paged clone points at (its origin's records are gone here)
    found = gc.collect(storage, min_age=0.0, now=10**10)
    assert not any(g.kind == "unreferenced blob" for g in found.garbage)
