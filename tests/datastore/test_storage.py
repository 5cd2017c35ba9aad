"""One conformance suite for every storage backend (local folder and s3://), through the
parametrized ``storage`` fixture, plus what only the local backend or ``open_storage`` can show."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from rayflow.datastore import (
    DatastoreURLError,
    LocalStorage,
    MissingRecordError,
    open_storage,
)


def _is_s3(storage) -> bool:
    return not isinstance(storage, LocalStorage)


# -- conformance: every backend ------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", bytes(range(256)) * 3, os.urandom(300_000)],
    ids=["empty", "text", "all-bytes", "300KB-random"],
)
def test_write_atomic_then_read_bytes_returns_the_same_bytes(storage, data):
    storage.write_atomic("a/b/c.bin", data)
    assert storage.read_bytes("a/b/c.bin") == data


def test_text_round_trips_as_utf8(storage):
    storage.write_text("run.json", '{"name": "café ✓"}')
    assert storage.read_text("run.json") == '{"name": "café ✓"}'
    assert storage.read_bytes("run.json") == '{"name": "café ✓"}'.encode()


def test_overwrite_replaces_the_whole_content(storage):
    storage.write_atomic("f", b"x" * 100_000)
    storage.write_atomic("f", b"abc")
    assert storage.read_bytes("f") == b"abc"


def test_reading_a_missing_file_raises_missing_record_error_naming_it(storage):
    storage.write_atomic("d/present", b"1")
    with pytest.raises(MissingRecordError, match="d/absent"):
        storage.read_bytes("d/absent")
    with pytest.raises(MissingRecordError):
        storage.read_bytes("nowhere/at/all")


def test_exists_is_true_for_written_files_and_their_folders_only(storage):
    assert not storage.exists("d/f")
    storage.write_atomic("d/f", b"1")
    assert storage.exists("d/f")
    assert storage.exists("d")  # records ask exists() of folders (e.g. <Flow>/runs)
    assert not storage.exists("d/g")
    assert not storage.exists("e")


def test_list_dir_returns_direct_children_files_and_folders_sorted(storage):
    for path in ["d/y", "d/x", "d/sub/z", "d/sub/deeper/w", "top"]:
        storage.write_atomic(path, b"1")
    assert storage.list_dir("d") == ["sub", "x", "y"]
    assert storage.list_dir("d/sub") == ["deeper", "z"]
    assert storage.list_dir("d/sub/deeper") == ["w"]
    assert storage.list_dir("") == ["d", "top"]


def test_list_dir_of_a_missing_folder_or_a_file_is_empty(storage):
    storage.write_atomic("d/f", b"1")
    assert storage.list_dir("missing") == []
    assert storage.list_dir("d/missing") == []
    assert storage.list_dir("d/f") == []


def test_list_dir_keeps_a_child_named_like_its_folder(storage):
    storage.write_atomic("start/start", b"1")  # e.g. a run id equal to a step name
    storage.write_atomic("start/end", b"2")
    assert storage.list_dir("start") == ["end", "start"]


def test_delete_removes_only_that_file_and_ignores_missing_files(storage):
    storage.write_atomic("d/gone", b"1")
    storage.write_atomic("d/kept", b"2")
    storage.delete("d/gone")
    assert not storage.exists("d/gone")
    with pytest.raises(MissingRecordError):
        storage.read_bytes("d/gone")
    assert storage.list_dir("d") == ["kept"]
    assert storage.read_bytes("d/kept") == b"2"
    storage.delete("d/gone")  # deleting again is not an error
    storage.delete("never/was")


def test_list_dir_shows_exactly_the_written_files_never_temporary_ones(storage):
    names = [f"f{i:02d}" for i in range(20)]
    for name in names:
        storage.write_atomic(f"many/{name}", name.encode())
    assert storage.list_dir("many") == names
    assert [storage.read_bytes(f"many/{n}") for n in names] == [n.encode() for n in names]


def test_write_many_then_read_many_returns_each_file_and_none_for_missing_ones(storage):
    files = {f"batch/{i}/meta.json": f"record {i}".encode() for i in range(30)}
    files["batch/big"] = os.urandom(200_000)
    files["batch/empty"] = b""
    storage.write_many(files)
    wanted = [*files, "batch/missing", "nowhere/x"]
    got = storage.read_many(wanted)
    assert list(got) == wanted
    assert {p: got[p] for p in files} == files
    assert got["batch/missing"] is None and got["nowhere/x"] is None
    assert storage.read_many([]) == {}
    assert storage.read_many(["batch/0/meta.json"]) == {"batch/0/meta.json": b"record 0"}


def test_write_many_replaces_existing_files_whole(storage):
    storage.write_many({"w/a": b"x" * 100_000, "w/b": b"old"})
    storage.write_many({"w/a": b"new a", "w/b": b"new b"})
    assert storage.read_many(["w/a", "w/b"]) == {"w/a": b"new a", "w/b": b"new b"}
    assert storage.list_dir("w") == ["a", "b"]


def test_exists_many_answers_for_files_and_folders(storage):
    storage.write_many({"e/f": b"1", "e/sub/g": b"2"})
    assert storage.exists_many(["e/f", "e/sub", "e/sub/g", "e/h", "x"]) == {
        "e/f": True,
        "e/sub": True,
        "e/sub/g": True,
        "e/h": False,
        "x": False,
    }


def test_batched_reads_and_writes_on_a_slow_s3_overlap_their_requests(s3_slow_url, s3_slow_proxy):
    storage = open_storage(s3_slow_url)
    files = {f"overlap/{i}": str(i).encode() for i in range(40)}
    storage.write_atomic("overlap/first", b"1")  # the bucket check and the connection are made
    s3_slow_proxy.reset_counts()
    storage.write_many(files)
    written_together = s3_slow_proxy.peak_in_flight
    s3_slow_proxy.reset_counts()
    assert storage.read_many(list(files)) == files
    read_together = s3_slow_proxy.peak_in_flight
    s3_slow_proxy.reset_counts()
    assert all(storage.exists_many(list(files)).values())
    checked_together = s3_slow_proxy.peak_in_flight
    assert written_together >= 8 and read_together >= 8 and checked_together >= 8


def test_a_small_file_on_s3_is_written_and_read_in_one_request_each(s3_slow_url, s3_slow_proxy):
    storage = open_storage(s3_slow_url)
    storage.write_atomic("first", b"1")  # the bucket check
    s3_slow_proxy.reset_counts()
    storage.write_atomic("record.json", b'{"attempt": 0}')
    assert s3_slow_proxy.requests == 1  # no separate wait for "100 Continue"
    s3_slow_proxy.reset_counts()
    assert storage.read_bytes("record.json") == b'{"attempt": 0}'
    assert s3_slow_proxy.requests == 1  # no HEAD before the GET
    big = os.urandom(2 << 20)
    storage.write_atomic("big.bin", big)
    assert storage.read_bytes("big.bin") == big


def test_readers_never_see_a_partial_file_while_it_is_overwritten(storage):
    big, small = b"A" * 400_000, b"B" * 50_000
    storage.write_atomic("hot", big)
    stop = threading.Event()
    writes = 0

    def writer() -> None:
        nonlocal writes
        while not stop.is_set():
            storage.write_atomic("hot", small if writes % 2 else big)
            writes += 1

    thread = threading.Thread(target=writer)
    thread.start()
    seen = set()
    try:
        deadline = time.monotonic() + 0.7
        while time.monotonic() < deadline:
            data = storage.read_bytes("hot")
            seen.add((len(data), data[:1], data[-1:]))
            assert data in (big, small), f"read a partial file of {len(data)} bytes"
            assert storage.list_dir("") == ["hot"]
    finally:
        stop.set()
        thread.join()
    assert writes >= 2, "the writer never overwrote the file: the test checked nothing"


# -- local backend: failures and crashes in the middle of a write ----------------------------


def _all_files(root) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files
    )


def test_local_write_under_a_file_fails_and_leaves_nothing(tmp_path):
    storage = LocalStorage(str(tmp_path))
    storage.write_atomic("blocker", b"i am a file")
    with pytest.raises(OSError):
        storage.write_atomic("blocker/child", b"data")
    assert _all_files(tmp_path) == ["blocker"]
    assert storage.read_bytes("blocker") == b"i am a file"
    assert not storage.exists("blocker/child")


def test_local_write_whose_rename_fails_removes_its_temporary_file(tmp_path):
    storage = LocalStorage(str(tmp_path))
    storage.write_atomic("target/inside", b"1")  # "target" is a non-empty folder
    with pytest.raises(OSError):
        storage.write_atomic("target", b"data")  # temp file written, then os.replace fails
    assert _all_files(tmp_path) == ["target/inside"]
    assert storage.list_dir("") == ["target"]


_KILLED_WRITER = """
import os, signal, sys
from rayflow.datastore import LocalStorage
storage = LocalStorage(sys.argv[1])
os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)  # die between write and rename
storage.write_atomic("task/meta.json", b"new" * 100_000)
"""


def test_local_writer_killed_before_rename_leaves_the_old_file_whole(tmp_path):
    storage = LocalStorage(str(tmp_path))
    storage.write_atomic("task/meta.json", b"old")
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(tmp_path)], timeout=60)
    assert proc.returncode == -9
    leftovers = [n for n in os.listdir(tmp_path / "task") if n != "meta.json"]
    assert len(leftovers) == 1 and ".tmp-" in leftovers[0]  # the crash hit the window
    assert os.path.getsize(tmp_path / "task" / leftovers[0]) == 300_000
    assert storage.read_bytes("task/meta.json") == b"old"
    assert storage.list_dir("task") == ["meta.json"]


# -- open_storage --------------------------------------------------------------------------


def test_a_plain_path_and_a_file_url_open_the_same_local_folder(tmp_path):
    plain = open_storage(str(tmp_path / "ds"))
    url = open_storage(f"file://{tmp_path / 'ds'}")
    assert isinstance(plain, LocalStorage) and isinstance(url, LocalStorage)
    plain.write_atomic("x", b"1")
    assert url.read_bytes("x") == b"1"


def test_an_unknown_protocol_raises_datastore_url_error_naming_it():
    with pytest.raises(DatastoreURLError, match="nosuchproto") as info:
        open_storage("nosuchproto://bucket/prefix")
    assert "nosuchproto://bucket/prefix" in str(info.value)


def test_an_s3_url_writes_into_that_bucket_and_prefix(s3_env, s3_url):
    storage = open_storage(s3_url)
    storage.write_atomic("Flow/runs/r1/run.json", b"{}")
    key = s3_url.removeprefix("s3://") + "/Flow/runs/r1/run.json"
    assert s3_env.filesystem().cat_file(key) == b"{}"


def test_a_wrong_s3_secret_is_rejected_with_permission_error(
    s3_env, s3_url, monkeypatch, fresh_s3_clients
):
    root = s3_url.removeprefix("s3://")
    s3_env.filesystem().pipe_file(f"{root}/present", b"secret data")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    storage = open_storage(s3_url)  # lazy: the first request fails
    with pytest.raises(PermissionError):
        storage.read_bytes("present")
    with pytest.raises(PermissionError):
        storage.write_atomic("new", b"x")
    with pytest.raises(PermissionError):  # not False: a wrong key must not look like "missing"
        storage.exists("present")
    with pytest.raises(PermissionError):
        storage.list_dir("")
    assert not s3_env.filesystem().exists(f"{root}/new")


def test_an_unknown_s3_access_key_is_rejected_with_permission_error(
    s3_url, monkeypatch, fresh_s3_clients
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody")
    storage = open_storage(s3_url)
    with pytest.raises(PermissionError):
        storage.read_bytes("anything")


def test_changed_s3_credentials_apply_to_a_url_opened_before(s3_url, monkeypatch, fresh_s3_clients):
    good = open_storage(s3_url)
    good.write_atomic("f", b"1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(PermissionError):
        open_storage(s3_url).read_bytes("f")


def test_list_flows_skips_root_entries_that_are_not_flows(storage):
    from rayflow.datastore import records

    storage.write_atomic("HelloFlow/runs/r1/run.json", b"{}")
    storage.write_atomic("sweeps.db", b"sqlite")
    storage.write_atomic("NoRuns/blobs/ab/abcd", b"x")
    storage.write_atomic("not-a-flow/runs/r1/run.json", b"{}")
    assert records.list_flows(storage) == ["HelloFlow"]


@pytest.mark.parametrize("mapped", [True, False], ids=["mapped", "read"])
def test_local_read_buffer_of_a_large_file_is_a_private_writable_copy(
    tmp_path, monkeypatch, mapped
):
    from rayflow.datastore import _local

    monkeypatch.setattr(_local, "_many_files_allowed", lambda: mapped)
    storage = LocalStorage(str(tmp_path))
    data = os.urandom(3 << 20)
    storage.write_atomic("big", data)
    buf = storage.read_buffer("big")
    assert bytes(buf) == data
    buf[0] ^= 0xFF  # changing what was read never changes the file
    assert storage.read_bytes("big") == data


def _primitives(storage):
    return [
        lambda: storage.read_bytes("x"),
        lambda: storage.write_atomic("x", b"1"),
        lambda: storage.exists("x"),
        lambda: storage.list_dir(""),
        lambda: storage.delete("x"),
        lambda: storage.read_many(["x", "y"]),
        lambda: storage.write_many({"x": b"1", "y": b"2"}),
        lambda: storage.exists_many(["x", "y"]),
    ]


def test_every_s3_primitive_without_credentials_fails_with_one_line(
    s3_url, monkeypatch, fresh_s3_clients
):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    storage = open_storage(s3_url)
    for call in _primitives(storage):
        with pytest.raises(PermissionError) as info:  # a DatastoreAccessDenied
            call()
        assert str(info.value) == (
            f"datastore {s3_url}: no credentials found (set "
            f"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
        )


def test_every_s3_primitive_against_a_closed_port_fails_with_one_line(monkeypatch):
    import socket

    from rayflow.datastore import DatastoreError

    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'rayflow[s3]')")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    endpoint = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    storage = open_storage("s3://bucket/prefix")
    for call in _primitives(storage):
        with pytest.raises(DatastoreError) as info:
            call()
        assert str(info.value) == (
            f"datastore s3://bucket/prefix: cannot reach the endpoint at "
            f"{endpoint} (connection refused)"
        )
