"""The parallelism report of a run: its numbers, its HTML timeline, and that timeline in a browser."""

from __future__ import annotations

import html
import re
import subprocess

import pytest
from click.testing import CliRunner

from rayflow._stats import Attempt, critical_path, percentile, run_stats
from rayflow._statstext import stats_text
from rayflow._timeline import write_timeline
from rayflow.cli import cli

from .flows import SleepyForeach


def _bars(page: str) -> list[dict[str, str]]:
    """Attributes of every ``<rect class="bar ...">`` in an HTML page."""
    out = []
    for tag in re.findall(r"<rect\b[^>]*>", page):
        attrs = {k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', tag)}
        if "bar" in attrs.get("class", "").split():
            out.append(attrs)
    return out


def test_stats_of_a_foreach_add_up(run_flow):
    outcome = run_flow(SleepyForeach, n=4, seconds=0.3)
    assert outcome.successful
    stats = run_stats(outcome.run)

    assert [(a.step, a.task_id) for a in stats.attempts] == [
        ("start", "0"),
        ("split", "0"),
        ("split", "1"),
        ("split", "2"),
        ("split", "3"),
        ("join", "0"),
        ("end", "0"),
    ]
    assert stats.cpus == 2 and stats.cpus_recorded
    assert 1.2 <= stats.task_s < stats.wall_s * 2
    assert 0 < stats.efficiency <= 1
    assert stats.efficiency == pytest.approx(stats.task_s / (stats.wall_s * 2))
    assert 0 <= stats.latency_median_s <= stats.latency_p95_s < stats.wall_s
    steps = [s for s, _ in stats.critical_path]
    assert steps == ["start", "split", "join", "end"]
    assert 0.3 <= stats.critical_path_s <= stats.wall_s
    splits = [a for a in stats.attempts if a.step == "split"]
    assert all(0.3 <= a.duration < 1.5 and a.pid and a.node_id for a in splits)
    assert all(a.ready_at <= a.started_at <= a.finished_at for a in stats.attempts)
    assert not any(a.failed or a.retried or a.cloned for a in stats.attempts)
    split_row = next(s for s in stats.steps if s.step == "split")
    assert (split_row.tasks, split_row.attempts, split_row.failed) == (4, 4, 0)
    assert split_row.task_s == pytest.approx(sum(a.duration for a in splits))


def test_stats_text_prints_the_numbers(run_flow):
    outcome = run_flow(SleepyForeach, n=2, seconds=0.05)
    text = stats_text(outcome.run)
    stats = run_stats(outcome.run)
    assert f"run {outcome.pathspec}  (successful)" in text
    for label in (
        "wall time",
        "task time",
        "CPUs",
        "parallel efficiency",
        "scheduling latency",
        "critical path",
    ):
        assert label in text
    assert "2 (recorded)" in text
    assert f"{100 * stats.efficiency:.0f}%" in text
    assert "start/0 -> split/" in text and "-> join/0 -> end/0" in text
    assert re.search(r"^\s+split\s+2\s+2\s+0\s", text, re.M), text


def test_show_stats_prints_the_report_and_rejects_a_non_run(run_flow, datastore):
    outcome = run_flow(SleepyForeach, n=2, seconds=0.05)
    shown = CliRunner().invoke(cli, ["show", outcome.pathspec, "--stats", "--datastore", datastore])
    assert shown.exit_code == 0, shown.output
    assert f"run {outcome.pathspec}  (successful)" in shown.output
    assert "parallel efficiency" in shown.output and "critical path" in shown.output
    assert re.search(r"^\s+split\s+2\s+2\s+0\s", shown.output, re.M), shown.output
    step = CliRunner().invoke(
        cli, ["show", f"{outcome.pathspec}/split", "--stats", "--datastore", datastore]
    )
    assert step.exit_code == 1 and "--stats needs a run pathspec" in step.output


def test_a_retried_attempt_is_its_own_failed_bar(run_flow, tmp_path):
    outcome = run_flow(SleepyForeach, n=4, seconds=0.05, fail_first=2)
    assert outcome.successful
    stats = run_stats(outcome.run)
    tries = [a for a in stats.attempts if a.key == ("split", "2")]
    assert [(a.attempt, a.status, a.retried) for a in tries] == [
        (0, "failed", True),
        (1, "done", False),
    ]
    assert "RuntimeError: split 2 fails on its first attempt" in tries[0].error
    assert tries[0].finished_at <= tries[1].started_at
    assert stats.failed_attempts == 1 and stats.retried_tasks == 1 and stats.tasks == 7
    assert stats.task_s >= 4 * 0.05

    page_path = tmp_path / "t.html"
    write_timeline(outcome.run, str(page_path))
    bars = _bars(page_path.read_text())
    assert len(bars) == 8
    by_key = {(b["data-task"], b["data-attempt"]): b for b in bars}
    failed, retry = by_key[("split/2", "0")], by_key[("split/2", "1")]
    assert failed["data-status"] == "failed" and "failed" in failed["class"].split()
    assert retry["data-status"] == "done" and "retry" in retry["class"].split()
    assert "failed" not in retry["class"].split()
    assert "first attempt" in failed["data-error"]
    others = [b for k, b in by_key.items() if k[0] != "split/2"]
    assert not any({"failed", "retry"} & set(b["class"].split()) for b in others)


def test_timeline_command_writes_a_self_contained_page(run_flow, datastore, tmp_path):
    outcome = run_flow(SleepyForeach, n=3, seconds=0.05)
    out = tmp_path / "timeline.html"
    result = CliRunner().invoke(
        cli, ["timeline", outcome.pathspec, "-o", str(out), "--datastore", datastore]
    )
    assert result.exit_code == 0, result.output
    assert "parallel efficiency" in result.output and "critical path" in result.output
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "<script src" not in page and "@import" not in page
    assert {b["data-task"] for b in _bars(page)} == {
        "start/0",
        "split/0",
        "split/1",
        "split/2",
        "join/0",
        "end/0",
    }
    assert "wall time" in page and "scheduling latency" in page

    # ``Flow`` alone is the latest run; a missing run is one clear line.
    latest = CliRunner().invoke(
        cli, ["timeline", "SleepyForeach", "-o", str(tmp_path / "l.html"), "--datastore", datastore]
    )
    assert latest.exit_code == 0 and outcome.run_id in latest.output
    missing = CliRunner().invoke(cli, ["timeline", "SleepyForeach/nope", "--datastore", datastore])
    assert missing.exit_code == 1
    assert "error: run SleepyForeach/nope not found" in missing.output


def test_cloned_tasks_count_no_task_time_and_are_not_drawn(ray_session, datastore, tmp_path):
    from rayflow import Runner

    marker = tmp_path / "fail"
    marker.write_text("")
    first = Runner(SleepyForeach, datastore=datastore).run(
        n=3, seconds=0.05, fail_marker=str(marker)
    )
    assert first.status == "failed"
    marker.unlink()
    second = Runner(SleepyForeach, datastore=datastore).resume()
    assert second.successful
    stats = run_stats(second.run)
    cloned = {a.label for a in stats.attempts if a.cloned}
    assert cloned == {"start/0", "split/0", "split/2"}
    ran = [a for a in stats.attempts if not a.cloned]
    assert {a.label for a in ran} == {"split/1", "join/0", "end/0"}
    assert stats.task_s == pytest.approx(sum(a.duration for a in ran))
    page = tmp_path / "r.html"
    write_timeline(second.run, str(page))
    assert {b["data-task"] for b in _bars(page.read_text())} == {"split/1", "join/0", "end/0"}
    assert "3 cloned tasks" in page.read_text()


def _attempt(step, task_id, start, end, inputs=(), attempt=0, status="done"):
    return Attempt(
        step, task_id, attempt, status, start, start, end, node_id="n", pid=1, inputs=list(inputs)
    )


def test_critical_path_follows_the_longest_chain_of_inputs():
    attempts = [
        _attempt("start", "0", 0, 1),
        _attempt("a", "0", 1, 2, [("start", "0")]),
        _attempt("b", "0", 1, 5, [("start", "0")]),
        _attempt("c", "0", 2, 3, [("a", "0")]),
        _attempt("join", "0", 5, 6, [("c", "0"), ("b", "0")]),
        _attempt("end", "0", 6, 6.5, [("join", "0")]),
    ]
    path, total = critical_path(attempts)
    assert path == [("start", "0"), ("b", "0"), ("join", "0"), ("end", "0")]
    assert total == pytest.approx(1 + 4 + 1 + 0.5)
    # A retry's run time adds to its task's weight: a slow failed attempt moves the path.
    attempts[1:2] = [
        _attempt("a", "0", 1, 4.5, [("start", "0")], status="failed"),
        _attempt("a", "0", 4.5, 5.5, [("start", "0")], attempt=1),
    ]
    path, total = critical_path(attempts)
    assert [s for s, _ in path] == ["start", "a", "c", "join", "end"]
    assert total == pytest.approx(1 + (3.5 + 1) + 1 + 1 + 0.5)


def test_percentile_is_nearest_rank():
    assert percentile([], 95) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile(range(1, 101), 95) == 95
    assert percentile(range(1, 101), 50) == 50


# -- in a real browser -----------------------------------------------------------------------
@pytest.mark.timeout(1500)  # the first run may install chromium with apt-get
def test_every_attempt_is_drawn_by_headless_chromium(run_flow, chromium, tmp_path):
    outcome = run_flow(SleepyForeach, n=5, seconds=0.05, fail_first=3)
    assert outcome.successful
    page = tmp_path / "timeline.html"
    stats = write_timeline(outcome.run, str(page))
    assert len(stats.attempts) == 9
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    dom = done.stdout
    assert "<svg" in dom, done.stderr[-2000:]
    bars = _bars(dom)
    assert len(bars) == 9
    # The script ran and the browser laid out every bar with a non-zero size.
    assert all(b.get("data-drawn") == "1" for b in bars), [
        b for b in bars if b.get("data-drawn") != "1"
    ]
    assert re.search(r'class="note drawn" data-count="9"', dom)
    assert "9 of 9 attempts drawn" in dom
    expected = {(f"{a.step}/{a.task_id}", str(a.attempt)) for a in stats.attempts}
    assert {(b["data-task"], b["data-attempt"]) for b in bars} == expected
    assert sum("failed" in b["class"].split() for b in bars) == 1
