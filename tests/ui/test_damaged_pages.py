"""A damaged run.json never takes the dashboard down: the flow page lists the other runs and
names the damaged one; the damaged run's own page (or a damaged task's) is a clear error page,
not a 500."""

from __future__ import annotations

import os

from starlette.testclient import TestClient

from rayflow import Runner
from rayflow import _namespace as ns
from rayflow.datastore import paths
from rayflow.ui import create_app

from .flows import FanFlow


def test_a_damaged_run_json_is_named_on_the_flow_page_and_its_run_page_is_an_error_page(
    ray_session, tmp_path
):
    url = str(tmp_path / "ds")
    good = Runner(FanFlow, datastore=url).run(n=2).run_id
    bad = Runner(FanFlow, datastore=url).run(n=2).run_id
    record = os.path.join(url, paths.run_file("FanFlow", bad))
    with open(record, "r+b") as f:
        f.truncate(40)

    saved = dict(ns._settings)
    try:
        assert_damaged_run_pages(
            TestClient(create_app(url), raise_server_exceptions=False), record, good, bad
        )
    finally:  # create_app points this process's client at ``url``
        ns._settings.clear()
        ns._settings.update(saved)


def assert_damaged_run_pages(client: TestClient, record: str, good: str, bad: str) -> None:
    flow = client.get("/flows/FanFlow")
    assert flow.status_code == 200
    assert f'data-run="{good}"' in flow.text and f'data-run="{bad}"' not in flow.text
    assert f"run {bad}: {record} is damaged" in flow.text

    run = client.get(f"/runs/FanFlow/{bad}")
    assert run.status_code == 404
    assert f"{record} is damaged" in run.text
    assert client.get(f"/api/runs/FanFlow/{bad}").status_code == 404
    assert client.get(f"/runs/FanFlow/{good}").status_code == 200

    meta = os.path.join(os.path.dirname(os.path.dirname(record)), good, "work", "1", "meta.json")
    with open(meta, "r+b") as f:
        f.truncate(40)
    task = client.get(f"/runs/FanFlow/{good}/work/1")
    assert task.status_code == 404 and f"{meta} is damaged" in task.text
    assert client.get(f"/runs/FanFlow/{good}").status_code == 200  # the rest of the run shows
