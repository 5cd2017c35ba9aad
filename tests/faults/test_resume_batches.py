"""Resume of a wide foreach: the finished splits are cloned together (their sources from the
origin's done pages, their records in one batch), the failed split is handed to Ray before the
clones are written, and nothing half-written or unreadable is trusted."""

from __future__ import annotations

import os
import shutil
from collections import deque

from rayflow import Runner
from rayflow.datastore import open_storage, pages, paths, taskrecords
from rayflow.scheduler._identity import TaskSpec
from rayflow.scheduler._resume import Cloner

from .conftest import touch, untouch
from .flows import SplitsFlow

N = 40


def _failed_run(run_flow, folder: str) -> str:
    touch(folder, "fail-3")
    first = run_flow(SplitsFlow, folder=folder, n=N)
    assert [label for label, _ in first.failures] == ["work/3"]
    untouch(folder, "fail-3")
    return first.run_id


def _pages_folder(datastore: str, run_id: str) -> str:
    return os.path.join(datastore, paths.pages_dir("SplitsFlow", run_id))


def test_a_wide_resume_clones_every_finished_split_and_pages_the_new_run(
    run_flow, datastore, folder
):
    origin = _failed_run(run_flow, folder)
    storage = open_storage(datastore)
    assert len(pages.read_pages(storage, "SplitsFlow", origin, "work")["work"]) == N - 1

    second = Runner(SplitsFlow, datastore=datastore).resume()
    assert second.successful
    assert sorted(second.executed) == [("end", "0"), ("join", "0"), ("work", "3")]
    assert sorted(second.cloned) == sorted(
        [("start", "0")] + [("work", str(i)) for i in range(N) if i != 3]
    )
    assert second.run.data.total == sum(i * i for i in range(N))
    clone = taskrecords.read_task(storage, "SplitsFlow", second.run_id, "work", "5")
    assert clone.finished and clone.origin["pathspec"] == f"SplitsFlow/{origin}/work/5"
    held = pages.read_pages(storage, "SplitsFlow", second.run_id, "work")["work"]
    assert sorted(held, key=int) == [str(i) for i in range(N)]  # 39 clones and the split that ran
    assert held["3"].origin is None and held["5"].origin == clone.origin


def test_the_batch_puts_the_tasks_that_run_before_the_clones(run_flow, datastore, folder):
    origin = _failed_run(run_flow, folder)
    storage = open_storage(datastore)
    records = {
        str(i): taskrecords.read_task(storage, "SplitsFlow", origin, "work", str(i))
        for i in range(N)
    }
    specs = [
        TaskSpec(
            "work",
            tuple(tuple(f) for f in records[str(i)].frames),
            (("start", "0"),),
            input_attempts=(0,),
        )
        for i in range(N)
    ]
    cloner = Cloner(storage, "SplitsFlow", origin, "20261130T120000.000-abcdef", set())
    cloner.cloned.add(("start", "0"))
    ready = deque(specs[1:])
    assert cloner.prepare(specs[0], ready)  # it went back, behind the split that runs
    assert [s.task_id for s in ready][:1] == ["3"] and ready[-1] is specs[0] and len(ready) == N
    results = {s.task_id: cloner(s) for s in ready}
    cloner.close()
    assert results["3"] is None
    assert all(results[str(i)].ok and results[str(i)].cloned for i in range(N) if i != 3)
    again = taskrecords.read_task(storage, "SplitsFlow", "20261130T120000.000-abcdef", "work", "7")
    assert again.finished and again.origin["pathspec"] == f"SplitsFlow/{origin}/work/7"


def test_a_wide_resume_reads_an_origin_without_pages_record_by_record(run_flow, datastore, folder):
    origin = _failed_run(run_flow, folder)
    shutil.rmtree(_pages_folder(datastore, origin))  # as a run written before pages
    # split 9's record is cut short (a half-written file): not trusted, it runs again
    path = os.path.join(datastore, paths.meta_file("SplitsFlow", origin, "work", "9"))
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    second = Runner(SplitsFlow, datastore=datastore).resume()
    assert second.successful
    assert sorted(second.executed) == [("end", "0"), ("join", "0"), ("work", "3"), ("work", "9")]
    assert len(second.cloned) == N - 1  # start and the 38 readable finished splits
    assert second.run.data.total == sum(i * i for i in range(N))


def test_a_wide_resume_passes_over_a_damaged_origin_page(run_flow, datastore, folder):
    origin = _failed_run(run_flow, folder)
    (name,) = os.listdir(_pages_folder(datastore, origin))
    with open(os.path.join(_pages_folder(datastore, origin), name), "w") as f:
        f.write('{"format": 1, "records": [')
    second = Runner(SplitsFlow, datastore=datastore).resume()
    assert second.successful
    assert sorted(second.executed) == [("end", "0"), ("join", "0"), ("work", "3")]
    assert len(second.cloned) == N


def test_a_large_resume_on_an_object_store_pages_its_clones_and_readers_follow(
    run_flow, datastore, folder, monkeypatch
):
    """On an object store, thousands of clone records would cost a request each before the
    resume goes on: a large batch is written only in the run's done pages. (Here a local folder
    plays the object store, and 8 clones count as many.)"""
    from rayflow import Run
    from rayflow.scheduler import _clone

    origin = _failed_run(run_flow, folder)
    monkeypatch.setattr(pages, "PAGED_CLONES_FROM", 8)
    monkeypatch.setattr(_clone, "concurrent", lambda storage: True)
    second = Runner(SplitsFlow, datastore=datastore).resume()
    assert second.successful
    assert sorted(second.executed) == [("end", "0"), ("join", "0"), ("work", "3")]
    assert len(second.cloned) == N
    new_work = os.path.join(datastore, paths.step_dir("SplitsFlow", second.run_id, "work"))
    assert sorted(os.listdir(new_work)) == [
        "3"
    ]  # the clones have no folder: their page is their record
    run = Run(f"SplitsFlow/{second.run_id}")
    assert run.data.total == sum(i * i for i in range(N))
    tasks = list(run["work"])
    assert sorted(int(t.id) for t in tasks) == list(range(N)) and all(t.finished for t in tasks)
    assert run["work"]["5"].data.square == 25
    assert run["work"]["5"].origin_pathspec == f"SplitsFlow/{origin}/work/5"

    # a resume of that run (its join forced to run again) clones from its paged clones
    third = Runner(SplitsFlow, datastore=datastore).resume(step="join")
    assert third.successful
    assert sorted(third.executed) == [("end", "0"), ("join", "0")]
    assert len(third.cloned) == N + 1
    # every split of the third run is a paged clone: the step has no folder, and still is listed
    assert not os.path.exists(
        os.path.join(datastore, paths.step_dir("SplitsFlow", third.run_id, "work"))
    )
    assert (
        "work" in Run(f"SplitsFlow/{third.run_id}")
        and len(list(Run(f"SplitsFlow/{third.run_id}")["work"])) == N
    )
    assert third.run.data.total == sum(i * i for i in range(N))
