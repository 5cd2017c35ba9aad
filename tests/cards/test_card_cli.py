"""``python flow.py card get|list`` and resume: a cloned task's cards are its origin's."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import pytest
from click.testing import CliRunner

from rayflow.cli import cli

FLOW = """
import os
from rayflow import FlowSpec, card, current, step


MARKER = {marker!r}


class ResumeCardFlow(FlowSpec):
    @card(type="taskspec_card")
    @step
    def start(self):
        self.origin = current.pathspec
        self.next(self.end)

    @card(type="blank", id="b1")
    @card(type="blank", id="b2")
    @step
    def end(self):
        if os.path.exists(MARKER):
            raise RuntimeError("fail once")


if __name__ == "__main__":
    ResumeCardFlow()
"""


@pytest.fixture(scope="module")
def resumed(ray_session, tmp_path_factory):
    """A run whose end fails, then its resume: start is cloned, end runs again."""
    where = tmp_path_factory.mktemp("cardcli")
    path = where / "flow.py"
    marker = where / "fail-end"
    marker.write_text("")
    path.write_text(FLOW.replace("{marker!r}", repr(str(marker))))
    ds = str(where / "ds")
    first = CliRunner().invoke(cli, ["run", str(path), "--datastore", ds, "--quiet"])
    assert first.exit_code != 0
    marker.unlink()
    second = CliRunner().invoke(cli, ["resume", str(path), "--datastore", ds, "--quiet"])
    assert second.exit_code == 0, second.output
    runs = sorted(os.listdir(os.path.join(ds, "ResumeCardFlow", "runs")))
    return str(path), ds, runs[0], runs[1]


def _card_cli(path: str, ds: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, path, "--datastore-root", ds, "card", *args],
        cwd=os.path.dirname(path),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_card_get_of_a_resumed_task_returns_its_origins_card(resumed, tmp_path):
    path, ds, first, second = resumed
    out = tmp_path / "card.html"
    proc = _card_cli(path, ds, "get", f"{second}/start/0", str(out), "--type", "taskspec_card")
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == f"ResumeCardFlow/{first}/start/0"
    proc = _card_cli(path, ds, "get", f"{second}/start/0", "--no-follow-resumed")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: Card not found in datastore")


def test_card_list_as_json_names_each_card_with_its_hash_and_get_by_hash(resumed, tmp_path):
    path, ds, _, second = resumed
    proc = _card_cli(
        path, ds, "list", f"{second}/end/0", "--as-json", "--file", str(tmp_path / "l.json")
    )
    assert proc.returncode == 0, proc.stderr
    listed = json.loads((tmp_path / "l.json").read_text())
    assert listed["pathspec"] == f"ResumeCardFlow/{second}/end/0"
    assert [(c["type"], c["id"]) for c in listed["cards"]] == [("blank", "b1"), ("blank", "b2")]
    several = _card_cli(path, ds, "get", f"{second}/end/0")
    assert several.returncode == 0 and "Found 2 cards" in several.stderr and several.stdout == ""
    one = _card_cli(
        path, ds, "get", "end", "--hash", listed["cards"][1]["hash"][:8]
    )  # the latest run
    assert one.returncode == 0 and one.stdout.startswith("<!DOCTYPE html>")


def test_get_cards_follows_a_resumed_task_to_its_origin(resumed):
    import rayflow
    from rayflow.cards import get_cards

    _, ds, first, second = resumed
    rayflow.metadata(ds)
    try:
        cards = get_cards(f"ResumeCardFlow/{second}/start/0")
        assert cards.from_resumed and cards.origin_pathspec == f"ResumeCardFlow/{first}/start/0"
        assert cards[0].get() == f"ResumeCardFlow/{first}/start/0"
        assert len(get_cards(f"ResumeCardFlow/{second}/start/0", follow_resumed=False)) == 0
        assert len(get_cards(f"ResumeCardFlow/{first}/end/0")) == 0  # a failed task has no card
    finally:
        rayflow.metadata(None)


def test_dump_file_keys_tasks_run_step_task_as_metaflow_does(resumed, tmp_path):
    path, ds, _, second = resumed
    out = tmp_path / "d.pkl"
    proc = subprocess.run(
        [
            sys.executable,
            path,
            "--datastore-root",
            ds,
            "dump",
            "--file",
            str(out),
            f"{second}/start",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    with open(out, "rb") as f:
        assert list(pickle.load(f)) == [f"{second}/start/0"]
