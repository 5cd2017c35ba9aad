"""``rayflow gc``: removes temp files of dead writers and blobs nothing references, lists them
with their sizes on a dry run, and never takes what a run (finished or running) needs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from rayflow import Run, Runner
from rayflow.cli import cli
from rayflow.datastore import BlobStore, open_storage, paths

GC_FLOW = textwrap.dedent("""
    from rayflow import FlowSpec, Parameter, step


    class GcFlow(FlowSpec):
        n = Parameter("n", default=3)

        @step
        def start(self):
            self.items = [f"item-{i}" for i in range(self.n)]
            self.next(self.work, foreach="items")

        @step
        def work(self):
            self.out = self.input.upper()
            self.next(self.join)

        @step
        def join(self, inputs):
            self.outs = sorted(i.out for i in inputs)
            self.next(self.end)

        @step
        def end(self):
            pass
""")

KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from rayflow.datastore import open_storage

    def chunks():
        yield b"x" * (3 << 20)
        print("written", flush=True)
        time.sleep(600)
        yield b"never"

    open_storage(sys.argv[1]).write_chunks(sys.argv[2], chunks())
""")


def _gc(datastore: str, *args: str):
    result = CliRunner().invoke(cli, ["gc", "--datastore", datastore, *args])
    assert result.exit_code == 0, result.output
    return result


def _killed_writer_temp(datastore: str, path: str) -> str:
    """Start a real writer of ``path``, let it write 3 MB, SIGKILL it: its temp file stays."""
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, datastore, path], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "written"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    folder = os.path.dirname(os.path.join(datastore, path))
    [temp] = [n for n in os.listdir(folder) if ".tmp-" in n]
    return os.path.join(folder, temp)


@pytest.fixture
def flow_file(write_flow) -> str:
    return write_flow(GC_FLOW, "gc_flow.py")


@pytest.fixture
def gc_run(ray_session, datastore, flow_file):
    return Runner(flow_file, datastore=datastore).run()


def _age(path: str, seconds: float) -> None:
    then = os.path.getmtime(path) - seconds
    os.utime(path, (then, then))


def _everything_reads(pathspec: str) -> None:
    run = Run(pathspec)
    assert run.data.outs == ["ITEM-0", "ITEM-1", "ITEM-2"]
    for step in run:
        for task in step:
            for artifact in task:
                artifact.data  # noqa: B018 - loads and verifies the blob


def test_gc_removes_a_killed_writers_temp_file_and_unreferenced_blobs_only(
    gc_run, datastore, flow_file
):
    storage = open_storage(datastore)
    orphan = BlobStore(storage, "GcFlow").put("orphan", list(range(5000)))
    orphan_file = os.path.join(datastore, paths.blob_file("GcFlow", orphan))
    temp = _killed_writer_temp(datastore, paths.blob_file("GcFlow", "ab" * 32))
    assert os.path.getsize(temp) == 3 << 20

    fresh = _gc(datastore, "--dry-run")  # default --min-age 1h: everything here is too young
    assert "would remove 0 temp file(s) and 0 unreferenced blob(s)" in fresh.stdout

    dry = _gc(datastore, "--dry-run", "--min-age", "0")
    lines = dry.stdout.splitlines()
    rel_temp = os.path.relpath(temp, datastore)
    assert f"would remove temp file {rel_temp} (3.0 MB)" in lines
    assert any(
        line.startswith(
            f"would remove unreferenced blob {os.path.relpath(orphan_file, datastore)} ("
        )
        for line in lines
    )
    assert lines[-1].endswith("would remove 1 temp file(s) and 1 unreferenced blob(s), 3.0 MB")
    assert os.path.exists(temp) and os.path.exists(orphan_file)

    done = _gc(datastore, "--min-age", "0")
    assert done.stdout.splitlines()[-1].endswith(
        "removed 1 temp file(s) and 1 unreferenced blob(s), 3.0 MB"
    )
    assert not os.path.exists(temp) and not os.path.exists(orphan_file)
    _everything_reads(gc_run.pathspec)
    again = Runner(flow_file, datastore=datastore).resume(step="work")
    assert again.successful  # the foreach list and its items were kept
    assert again.run.data.outs == ["ITEM-0", "ITEM-1", "ITEM-2"]
    assert "0 temp file(s) and 0 unreferenced blob(s)" in _gc(datastore, "--min-age", "0").stdout


def test_gc_keeps_every_blob_of_a_flow_with_a_running_run(gc_run, datastore):
    storage = open_storage(datastore)
    orphan = BlobStore(storage, "GcFlow").put(
        "orphan", "written by a task whose record is not there yet"
    )
    _age(os.path.join(datastore, paths.blob_file("GcFlow", orphan)), 7200)
    record_path = os.path.join(datastore, paths.run_file("GcFlow", gc_run.run_id))
    with open(record_path) as f:
        record = json.load(f)
    record["status"] = "running"
    with open(record_path, "w") as f:
        json.dump(record, f)

    result = _gc(datastore)  # the orphan is 2 h old, but the run wrote its run.json just now
    assert f"GcFlow: every blob kept: run {gc_run.run_id} is recorded as running" in result.stderr
    assert storage.exists(paths.blob_file("GcFlow", orphan))


def test_gc_keeps_every_blob_of_a_flow_with_a_damaged_record(gc_run, datastore):
    storage = open_storage(datastore)
    orphan = BlobStore(storage, "GcFlow").put("orphan", "unknown owner")
    meta = os.path.join(datastore, paths.meta_file("GcFlow", gc_run.run_id, "work", "1"))
    with open(meta, "r+b") as f:
        f.truncate(30)
    result = _gc(datastore, "--min-age", "0")
    assert f"GcFlow: every blob kept: {meta} is damaged" in result.stderr
    assert storage.exists(paths.blob_file("GcFlow", orphan))


def test_gc_refuses_an_age_it_cannot_read(datastore):
    result = CliRunner().invoke(cli, ["gc", "--datastore", datastore, "--min-age", "soon"])
    assert result.exit_code == 2
    assert "'soon' is not an age such as 90s, 30m, 1h or 2d" in result.output
