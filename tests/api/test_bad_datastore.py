"""A datastore that cannot be used when a run starts: a full disk, a read-only file system, an
unreachable ftp:// server. Each is one ``error:`` line and a non-zero exit, before Ray starts,
and leaves no run folder behind; a run folder without run.json is never taken for a run.

The disks are real: a 1 MiB tmpfs mounted for the test (root only; skipped, with the reason,
where mounting is not allowed), filled with a file or remounted read-only.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from rayflow.datastore import LocalStorage, records

RAYFLOW = os.path.join(os.path.dirname(sys.executable), "rayflow")

HELLO = """
from rayflow import FlowSpec, step


class HelloFlow(FlowSpec):
    @step
    def start(self):
        self.value = 42
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def _env():
    return {k: v for k, v in os.environ.items() if k != "RAYFLOW_DATASTORE"}


def _run(args, cwd):
    return subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120)


def _one_error_line(proc) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "Exception ignored" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB file system (tmpfs) at ``tmp_path/disk``, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder) -> None:
    """Write into ``folder`` until its file system is full."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def _remount_read_only(mount) -> None:
    done = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot remount the tmpfs read-only: {done.stderr.strip()}")


def test_a_full_disk_is_one_line_and_leaves_no_run_folder(write_flow, tmp_path, small_disk):
    write_flow(HELLO)
    _fill(small_disk)
    proc = _run([RAYFLOW, "run", "flow.py", "--datastore", str(small_disk / "ds")], tmp_path)
    line = _one_error_line(proc)
    assert (
        line == f"error: datastore {small_disk / 'ds'} cannot be written: no space left on device"
    )
    assert sorted(os.listdir(small_disk)) == ["filler"]  # not even an empty datastore folder


def test_a_read_only_datastore_is_one_line(write_flow, tmp_path, small_disk):
    write_flow(HELLO)
    (small_disk / "ds").mkdir()
    _remount_read_only(small_disk)
    proc = _run([RAYFLOW, "run", "flow.py", "--datastore", str(small_disk / "ds")], tmp_path)
    line = _one_error_line(proc)
    assert line == f"error: datastore {small_disk / 'ds'} cannot be written: read-only file system"


def test_resume_after_a_run_refused_by_a_full_disk_resumes_the_last_real_run(
    ray_session, write_flow, tmp_path, small_disk
):
    from rayflow import Runner, metadata

    flow = write_flow(HELLO)
    datastore = str(small_disk / "ds")
    first = Runner(flow, datastore=datastore).run()
    assert first.successful
    _fill(small_disk)
    _one_error_line(_run([RAYFLOW, "run", "flow.py", "--datastore", datastore], tmp_path))
    os.unlink(small_disk / "filler")
    storage = LocalStorage(datastore)
    assert records.list_runs(storage, "HelloFlow") == [first.run_id]
    resumed = Runner(flow, datastore=datastore).resume()
    try:
        assert resumed.successful
        assert resumed.run.origin_pathspec == first.pathspec  # the real run, not a stub
        assert resumed.run["start"].task.data.value == 42
    finally:
        metadata(None)


def test_a_run_folder_without_run_json_is_not_a_run(ray_session, write_flow, tmp_path):
    """Folders such a failure left behind before this was fixed: every reader skips them."""
    from rayflow import Flow, Runner, metadata, namespace

    flow = write_flow(HELLO)
    datastore = str(tmp_path / "ds")
    first = Runner(flow, datastore=datastore).run()
    (tmp_path / "ds" / "HelloFlow" / "runs" / "29991231T235959.000-dead00").mkdir()
    storage = LocalStorage(datastore)
    assert records.list_runs(storage, "HelloFlow") == [first.run_id]
    metadata(datastore)
    namespace(None)
    try:
        assert [r.id for r in Flow("HelloFlow").runs()] == [first.run_id]
    finally:
        metadata(None)
    resumed = Runner(flow, datastore=datastore).resume()
    try:
        assert resumed.successful and resumed.run.origin_pathspec == first.pathspec
    finally:
        metadata(None)


def test_the_first_record_of_a_run_brings_its_folder_or_nothing(tmp_path, small_disk):
    storage = LocalStorage(str(small_disk / "ds"))
    records.create_run(storage, "F", "r1", {"status": "running"})
    assert sorted(os.listdir(small_disk / "ds" / "F" / "runs")) == ["r1"]
    assert os.listdir(small_disk / "ds" / "F" / "runs" / "r1") == ["run.json"]
    _fill(small_disk)
    with pytest.raises(OSError):
        records.create_run(storage, "F", "r2", {"status": "running", "pad": "x" * 100_000})
    assert sorted(os.listdir(small_disk / "ds" / "F" / "runs")) == ["r1"]  # no r2, no leftovers


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize(
    "url,expected",
    [
        ("ftp:///nohost", "TypeError"),
        ("ftp://127.0.0.1:{port}/x", "cannot reach the endpoint ([Errno 111] Connection refused)"),
    ],
)
def test_an_ftp_datastore_that_cannot_be_opened_is_one_line(write_flow, tmp_path, url, expected):
    write_flow(HELLO)
    url = url.format(port=_closed_port())
    line = _one_error_line(_run([RAYFLOW, "run", "flow.py", "--datastore", url], tmp_path))
    assert line.startswith(f"error: datastore {url}: ")
    assert expected in line
