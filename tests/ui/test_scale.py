"""``rayflow ui`` at scale: a 10,000-task run's page holds a window of each step's tasks, live
pages receive only what changed, and a flow with 1,000 runs shows them a page at a time.

The runs are written through the datastore's record API (tests/ui/synthetic.py) and the real
application is asked over HTTP through Starlette's test client."""

from __future__ import annotations

import os
import re

import pytest

from .synthetic import fan_run, run_id_at, write_run, write_task

pytest.importorskip("starlette")


@pytest.fixture
def ui(tmp_path):
    from starlette.testclient import TestClient

    from rayflow import _namespace as ns
    from rayflow.datastore import open_storage
    from rayflow.ui import create_app

    saved = dict(ns._settings)
    url = str(tmp_path / "ds")
    storage = open_storage(url)
    try:
        yield storage, lambda: TestClient(create_app(url))
    finally:  # create_app points this process's client at ``url``
        ns._settings.clear()
        ns._settings.update(saved)


def task_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-task="([^"]+)"', html)


def test_page_of_a_10000_task_run_lists_a_window_of_each_step_failed_tasks_first(ui):
    storage, client = ui
    run_id = run_id_at(1.7e9, 1)
    fan_run(
        storage, "BigFlow", run_id, splits=10_000, done=10_000, status="failed", failed=(9_998,)
    )
    page = client().get(f"/runs/BigFlow/{run_id}")
    assert page.status_code == 200
    rows = task_rows(page.text)
    work = [r for r in rows if r.startswith("work/")]
    assert (
        len(work) == 100 and work[0] == "work/9998" and work[1:4] == ["work/0", "work/1", "work/2"]
    )
    assert 'data-task="work/9998" data-status="failed"' in page.text
    assert re.search(
        r'data-more-step="work">.*?<span class="more-count">9900</span>', page.text, re.S
    )
    counts = re.search(
        r'<tr data-step="work" data-status="failed">(.*?)</tr>', page.text, re.S
    ).group(1)
    assert dict(re.findall(r'class="num c-(\w+)">(\d+)<', counts))["done"] == "9999"
    assert 'data-generator="steps"' in page.text and 'id="full-timeline"' in page.text
    assert page.text.count('class="step-bar"') == 2  # start and work ran; join and end did not
    assert len(page.content) < 150_000  # was ~4 MB: one row and one bar per task


def test_show_more_returns_the_next_window_of_a_steps_tasks(ui):
    storage, client = ui
    run_id = run_id_at(1.7e9, 2)
    fan_run(storage, "BigFlow", run_id, splits=1_050, done=1_050, status="successful")
    app = client()
    more = app.get(
        f"/api/runs/BigFlow/{run_id}/tasks", params={"step": "work", "offset": 100}
    ).json()
    assert more["tasks"] == [f"work/{i}" for i in range(100, 200)] and more["next"] == 200
    assert task_rows(more["html"]) == more["tasks"]
    last = app.get(
        f"/api/runs/BigFlow/{run_id}/tasks", params={"step": "work", "offset": 1_000}
    ).json()
    assert last["tasks"] == [f"work/{i}" for i in range(1_000, 1_050)] and last["next"] is None
    page = app.get(
        f"/runs/BigFlow/{run_id}", params={"step": "work", "offset": 1_000}
    ).text  # no script
    assert [r for r in task_rows(page) if r.startswith("work/")] == last["tasks"]
    assert app.get(f"/api/runs/BigFlow/{run_id}/tasks", params={"step": "nope"}).status_code == 404


def test_live_update_after_one_task_finishes_carries_that_task_and_not_the_whole_run(ui):
    storage, client = ui
    run_id = run_id_at(1.7e9, 3)
    fan_run(storage, "LiveFlow", run_id, splits=400, done=300, status="running")
    app = client()
    page = app.get(f"/runs/LiveFlow/{run_id}")
    live = re.search(r'data-live="([^"]+)" data-cursor="([^"]+)"', page.text)
    assert live, "a running run's page polls for changes"
    url, cursor = live.groups()

    write_task(storage, "LiveFlow", run_id, "work", "300", splits=400)
    delta = app.get(url, params={"since": cursor})
    data = delta.json()
    assert [t["task"] for t in data["tasks"]] == ["work/300"]
    assert (
        task_rows(data["tasks"][0]["html"]) == ["work/300"]
        and 'data-status="done"' in data["tasks"][0]["html"]
    )
    assert list(data["steps"]) == ["work"] and data["steps"]["work"]["rows"] == 301
    assert (
        ">301<" in data["steps"]["work"]["html"] and "graph" not in data
    )  # no step changed status
    assert "work/299" not in delta.text and data["running"] is True
    assert len(delta.content) < 3_000 < len(page.content) / 10

    quiet = app.get(url, params={"since": data["cursor"]}).json()
    assert quiet["tasks"] == [] and quiet["steps"] == {} and quiet["cursor"] == data["cursor"]


def test_live_update_sends_the_graph_and_final_status_when_the_run_ends(ui):
    storage, client = ui
    run_id = run_id_at(1.7e9, 4)
    fan_run(storage, "LiveFlow", run_id, splits=3, done=2, status="running")
    app = client()
    cursor = re.search(r'data-cursor="([^"]+)"', app.get(f"/runs/LiveFlow/{run_id}").text).group(1)
    write_task(storage, "LiveFlow", run_id, "work", "2", splits=3)
    write_task(storage, "LiveFlow", run_id, "join", "0")
    write_task(storage, "LiveFlow", run_id, "end", "0")
    write_run(storage, "LiveFlow", run_id, "successful", 1.7e9)
    data = app.get(f"/api/runs/LiveFlow/{run_id}/changes", params={"since": cursor}).json()
    assert (data["status"], data["running"]) == ("successful", False)
    assert sorted(t["task"] for t in data["tasks"]) == ["end/0", "join/0", "work/2"]
    assert "svg" in data["graph"] and set(data["steps"]) >= {"join", "end"}


def test_a_cursor_this_server_did_not_give_asks_the_page_to_reload(ui):
    storage, client = ui
    run_id = run_id_at(1.7e9, 5)
    fan_run(storage, "LiveFlow", run_id, splits=3, done=1, status="running")
    data = (
        client().get(f"/api/runs/LiveFlow/{run_id}/changes", params={"since": "0123abcd.7"}).json()
    )
    assert data["reload"] is True and "tasks" not in data


def test_flow_with_1000_runs_shows_100_a_page_newest_first(ui):
    storage, client = ui
    ids = [run_id_at(1.7e9 + i, i) for i in range(1_000)]
    for i, run_id in enumerate(ids):
        write_run(
            storage,
            "ManyFlow",
            run_id,
            "failed" if i % 10 == 0 else "successful",
            1.7e9 + i,
            tags=[f"batch:{i // 250}"],
        )
    app = client()
    first = app.get("/flows/ManyFlow").text
    assert re.findall(r'<tr data-run="([^"]+)"', first) == ids[::-1][:100]
    assert (
        "1000 of 1000 runs" in first
        and 'id="older-runs"' in first
        and 'id="newer-runs"' not in first
    )
    older = re.search(r'id="older-runs" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = app.get(older).text
    assert (
        re.findall(r'<tr data-run="([^"]+)"', second) == ids[::-1][100:200]
        and 'id="newer-runs"' in second
    )
    failed = app.get("/flows/ManyFlow", params={"status": "failed", "tag": "batch:0"}).text
    assert re.findall(r'<tr data-run="([^"]+)"', failed) == ids[:250:10][::-1]
    assert 'id="runs-pager"' not in failed  # 25 runs fit on one page


def test_flow_page_without_filters_reads_only_the_runs_it_shows(ui):
    storage, client = ui
    ids = [run_id_at(1.7e9 + i, i) for i in range(250)]
    for i, run_id in enumerate(ids):
        write_run(storage, "ManyFlow", run_id, "successful", 1.7e9 + i)
    from rayflow.datastore import paths

    with open(os.path.join(storage.root, paths.run_file("ManyFlow", ids[0])), "w") as f:
        f.write("{not json")  # the oldest run's record, shown only on the last page
    app = client()
    assert "damaged" not in app.get("/flows/ManyFlow").text
    last = app.get("/flows/ManyFlow", params={"offset": 200}).text
    assert f"run {ids[0]}:" in last and "is damaged" in last
    assert re.findall(r'<tr data-run="([^"]+)"', last) == ids[1:50][::-1]
    assert "is damaged" in app.get("/flows/ManyFlow", params={"status": "successful"}).text
