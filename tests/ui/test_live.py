"""The versions behind live updates (``rayflow.ui._live``), over views of real records."""

from __future__ import annotations

import pytest

from .synthetic import fan_run, run_id_at, write_task

pytest.importorskip("starlette")


@pytest.fixture
def views(tmp_path):
    from rayflow import _namespace as ns
    from rayflow.datastore import open_storage
    from rayflow.ui import _model, _runview

    saved = dict(ns._settings)
    url = str(tmp_path / "ds")
    ns.metadata(url)
    ns.namespace(None)
    cache = _runview.DoneCache()
    try:
        yield (
            open_storage(url),
            lambda run_id: _runview.run_view(_model.get_run("LiveFlow", run_id), cache),
        )
    finally:
        ns._settings.clear()
        ns._settings.update(saved)


def test_a_cursor_given_before_its_run_was_forgotten_asks_for_a_reload(views):
    from rayflow.ui._live import LiveTracker

    storage, view = views
    first, second = run_id_at(1.7e9, 1), run_id_at(1.7e9, 2)
    fan_run(storage, "LiveFlow", first, splits=5, done=2, status="running")
    fan_run(storage, "LiveFlow", second, splits=5, done=2, status="running")
    tracker = LiveTracker(limit=1)
    _, old = tracker.observe(("LiveFlow", first), view(first))
    tracker.observe(("LiveFlow", second), view(second))  # the first run is forgotten
    write_task(storage, "LiveFlow", first, "work", "2", splits=5)
    versions, now = tracker.observe(("LiveFlow", first), view(first))
    assert tracker.version_of(old, versions) is None  # its changes since then are unknown
    assert tracker.version_of(now, versions) is not None


def test_only_tasks_whose_row_changed_get_a_new_version(views):
    from rayflow.ui._live import LiveTracker

    storage, view = views
    run_id = run_id_at(1.7e9, 3)
    fan_run(storage, "LiveFlow", run_id, splits=5, done=2, status="running")
    tracker = LiveTracker()
    versions, cursor = tracker.observe(("LiveFlow", run_id), view(run_id))
    since = tracker.version_of(cursor, versions)
    tracker.observe(("LiveFlow", run_id), view(run_id))
    assert versions.tasks_since(since) == set() and versions.steps_since(since) == set()
    write_task(storage, "LiveFlow", run_id, "work", "2", splits=5)
    tracker.observe(("LiveFlow", run_id), view(run_id))
    assert versions.tasks_since(since) == {("work", "2")} and versions.steps_since(since) == {
        "work"
    }
    for task_id in ("3", "4"):
        write_task(storage, "LiveFlow", run_id, "work", task_id, splits=5)
    tracker.observe(("LiveFlow", run_id), view(run_id))
    assert versions.tasks_since(since) == {("work", "2"), ("work", "3"), ("work", "4")}
    assert versions.steps_since(since) == {"work", "join"}  # join became due: 1 running
