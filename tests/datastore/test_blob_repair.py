"""A damaged blob is repaired by the next write of its value, on every backend; leftover temp
files of dead writers are removed; damaged records are named and read as missing."""

from __future__ import annotations

import os
import random
import time

import pytest

from rayflow.datastore import (
    BlobCorruptError,
    BlobMissingError,
    BlobStore,
    DamagedRecordError,
    MissingRecordError,
    TaskRecord,
    _blobs,
    paths,
    records,
    taskrecords,
)

FLOW = "RepairFlow"
MB = 1 << 20


@pytest.fixture
def blobs(storage) -> BlobStore:
    return BlobStore(storage, FLOW)


def _big() -> bytes:
    return random.Random(7).randbytes(2 * MB)  # incompressible: stored as is, past the verify size


def _damage(storage, key: str, how: str) -> None:
    path = paths.blob_file(FLOW, key)
    data = bytearray(storage.read_bytes(path))
    if how == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        del data[len(data) // 2 :]
    storage.write_atomic(path, bytes(data))


def test_a_small_blob_with_a_flipped_byte_is_rewritten_by_the_next_put(blobs, storage):
    value = {"numbers": list(range(500))}
    key = blobs.put("v", value)
    _damage(storage, key, "flip")
    with pytest.raises(BlobCorruptError):
        blobs.get(key)
    assert blobs.put("v", value) == key
    assert blobs.get(key) == value


@pytest.mark.parametrize("value", [_big(), {"x": list(range(100))}], ids=["large", "small"])
def test_a_truncated_blob_is_rewritten_by_the_next_put(blobs, storage, value):
    key = blobs.put("v", value)
    _damage(storage, key, "truncate")
    assert blobs.put("v", value) == key
    assert blobs.get(key) == value


def test_a_large_blob_found_corrupt_is_removed_so_any_later_put_rewrites_it(blobs, storage):
    value = _big()
    key = blobs.put("v", value)
    _damage(storage, key, "flip")  # same size: a size check alone cannot see it
    with pytest.raises(BlobCorruptError, match="removed"):
        blobs.get(key)
    assert not blobs.exists(key)
    with pytest.raises(BlobMissingError):
        blobs.get(key)
    _blobs._SUSPECT.clear()  # another process: it knows nothing of what this one saw
    assert blobs.put("v", value) == key
    assert blobs.get(key) == value


def test_a_large_blob_seen_corrupt_in_this_process_is_verified_in_full_on_put(blobs, storage):
    value = _big()
    key = blobs.put("v", value)
    _blobs._SUSPECT.add(key)
    _damage(storage, key, "flip")
    assert blobs.put("v", value) == key
    assert blobs.get(key) == value


def test_a_damaged_record_is_named_and_counts_as_missing(storage):
    records.write_run(storage, FLOW, "r1", {"run_id": "r1", "status": "successful"})
    path = paths.run_file(FLOW, "r1")
    storage.write_atomic(path, b'{"run_id": "r1", "sta')
    with pytest.raises(DamagedRecordError, match=r"RepairFlow/runs/r1/run.json is damaged") as info:
        records.read_run(storage, FLOW, "r1")
    assert isinstance(info.value, MissingRecordError)
    storage.write_atomic(paths.done_file(FLOW, "r1", "a", "0"), b"\x00\x01")  # format 1's marker
    storage.write_atomic(
        paths.meta_file(FLOW, "r1", "a", "0"),
        b'{"flow": "RepairFlow", "run_id": "r1", "step": "a", "task_id": "0", "status": "done"}',
    )
    assert taskrecords.read_finished(storage, FLOW, "r1", "a", "0") is None


def test_a_write_of_a_large_blob_removes_stale_temp_files_of_its_key(tmp_path):
    from rayflow.datastore import open_storage

    storage = open_storage(str(tmp_path / "ds"))
    blobs = BlobStore(storage, FLOW)
    packed = _blobs.pack("v", _big())
    full = os.path.join(storage.root, paths.blob_file(FLOW, packed.key))
    os.makedirs(os.path.dirname(full))
    stale, fresh = f"{full}.tmp-0123456789ab", f"{full}.tmp-ba9876543210"
    for name in (stale, fresh):
        with open(name, "wb") as f:
            f.write(b"x" * 1000)
    old = os.path.getmtime(stale) - _blobs.STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    blobs.put_packed(packed)
    assert not os.path.exists(stale)
    assert os.path.exists(fresh)  # a live writer's file is left alone


def test_gc_collects_only_blobs_no_record_references_on_every_backend(storage):
    from rayflow.datastore import gc

    blobs = BlobStore(storage, FLOW)
    kept, item, orphan = blobs.put("a", "kept"), blobs.put("i", "item"), blobs.put("o", "orphan")
    items_list = blobs.put("items", [item])
    records.write_run(
        storage, FLOW, "r1", {"run_id": "r1", "status": "failed", "parameter_keys": {"alpha": kept}}
    )
    taskrecords.write(
        storage,
        TaskRecord(
            flow=FLOW,
            run_id="r1",
            step="start",
            task_id="0",
            foreach={"var": "xs", "n": 1, "items": items_list},
        ),
    )
    assert gc.collect(storage, min_age=3600).garbage == []  # all too young
    found = gc.collect(storage, min_age=0, now=time.time() + 5)
    assert [g.path for g in found.garbage] == [paths.blob_file(FLOW, orphan)]
    gc.remove(storage, found.garbage)
    assert not blobs.exists(orphan)
    assert [blobs.get(k) for k in (kept, item)] == ["kept", "item"]
