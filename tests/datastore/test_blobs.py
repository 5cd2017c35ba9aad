"""Content-addressed blobs on every backend: round trips, dedup, corruption, pickling errors,
and the name checks that keep user names from escaping the datastore."""

from __future__ import annotations

import hashlib
import os
import threading

import blake3
import pytest

from rayflow.datastore import (
    ArtifactPickleError,
    BlobCorruptError,
    BlobStore,
    InvalidNameError,
    MissingRecordError,
    content_key,
    paths,
    pickle_value,
)

FLOW = "BlobFlow"
MB = 1 << 20


@pytest.fixture
def blobs(storage) -> BlobStore:
    return BlobStore(storage, FLOW)


def _blob_files(storage, flow: str = FLOW) -> list[str]:
    root = f"{flow}/blobs"
    return [
        f"{prefix}/{name}"
        for prefix in storage.list_dir(root)
        for name in storage.list_dir(f"{root}/{prefix}")
    ]


# -- round trips ---------------------------------------------------------------------------


def test_a_dict_round_trips_and_is_keyed_by_the_blake3_of_its_pickle(blobs, storage):
    value = {"lr": 0.1, "layers": [64, 32], "name": "run", "nested": {"ok": True, None: (1, 2)}}
    key = blobs.put("params", value)
    assert key == blake3.blake3(pickle_value("params", value)).hexdigest()
    assert storage.exists(f"{FLOW}/blobs/{key[:2]}/{key}")
    assert blobs.exists(key)
    assert blobs.get(key) == value


def test_a_numpy_array_round_trips_with_dtype_and_shape(blobs):
    np = pytest.importorskip("numpy")
    array = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    back = blobs.get(blobs.put("weights", array))
    assert back.dtype == np.float32 and back.shape == (3, 4)
    np.testing.assert_array_equal(back, array)


def test_2mb_of_random_bytes_are_stored_raw(blobs, storage):
    data = os.urandom(2 * MB)
    key = blobs.put("noise", data)
    stored = storage.read_bytes(paths.blob_file(FLOW, key))
    assert stored[:1] == b"R"  # compressing would gain nothing
    assert blobs.get(key) == data


def test_2mb_of_zeros_are_stored_compressed(blobs, storage):
    data = bytes(2 * MB)
    key = blobs.put("zeros", data)
    stored = storage.read_bytes(paths.blob_file(FLOW, key))
    assert stored[:1] == b"Z"
    assert len(stored) < 100_000
    assert blobs.get(key) == data


def test_put_bytes_and_get_bytes_round_trip_small_and_empty_payloads(blobs):
    for data in [b"", b"x", b"abc" * 10_000]:
        key = blobs.put_bytes(data)
        assert key == content_key(data)
        assert blobs.get_bytes(key) == data


def test_a_blob_keyed_by_sha256_before_blake3_still_reads(blobs, storage):
    data = pickle_value("old", {"written": "by rayflow 0.1"})
    key = hashlib.sha256(data).hexdigest()
    storage.write_atomic(paths.blob_file(FLOW, key), b"R" + data)
    assert blobs.get(key) == {"written": "by rayflow 0.1"}


# -- content addressing --------------------------------------------------------------------


def test_the_same_value_gets_the_same_key_and_is_stored_once(blobs, storage):
    first = blobs.put("a", {"x": [1, 2, 3]})
    again = blobs.put("b", {"x": [1, 2, 3]})  # equal value, other artifact name
    other = blobs.put("c", {"x": [1, 2, 4]})
    assert first == again != other
    assert sorted(_blob_files(storage)) == sorted(f"{k[:2]}/{k}" for k in {first, other})


def test_blobs_of_different_flows_are_kept_apart(storage):
    key = BlobStore(storage, "FlowA").put("v", 42)
    assert BlobStore(storage, "FlowA").get(key) == 42
    assert not BlobStore(storage, "FlowB").exists(key)
    with pytest.raises(MissingRecordError):
        BlobStore(storage, "FlowB").get(key)


def test_a_missing_blob_raises_missing_record_error_naming_key_and_owner(blobs):
    key = content_key(b"never stored")
    with pytest.raises(MissingRecordError, match=key[:12]) as info:
        blobs.get(key, owner="Flow/1/train/0")
    assert "Flow/1/train/0" in str(info.value)


# -- corruption ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        lambda stored: b"R" + pickle_value("other", {"x": [9, 9, 9]}),  # valid, other content
        lambda stored: stored[:-5],  # truncated
        lambda stored: b"Z" + b"not zlib at all",  # undecodable payload
        lambda stored: b"?" + stored[1:],  # unknown header
        lambda stored: b"",  # emptied
    ],
    ids=["other-content", "truncated", "bad-zlib", "bad-header", "empty"],
)
def test_a_corrupted_blob_raises_blob_corrupt_error_naming_its_key(blobs, storage, damage):
    key = blobs.put("model", {"x": [1, 2, 3]})
    path = paths.blob_file(FLOW, key)
    storage.write_atomic(path, damage(storage.read_bytes(path)))
    with pytest.raises(BlobCorruptError, match=key[:12]) as info:
        blobs.get(key, owner="BlobFlow/1/train/0")
    assert "BlobFlow/1/train/0" in str(info.value)
    with pytest.raises(BlobCorruptError):
        blobs.get_bytes(key)


# -- values that cannot be pickled ---------------------------------------------------------


def _generator():
    yield 1


@pytest.mark.parametrize(
    "value",
    [threading.Lock(), _generator(), {"ok": 1, "inner": [threading.Lock()]}],
    ids=["lock", "generator", "lock-inside-dict"],
)
def test_an_unpicklable_value_raises_artifact_pickle_error_naming_the_artifact(
    blobs, storage, value
):
    with pytest.raises(ArtifactPickleError, match="'model_state'"):
        blobs.put("model_state", value)
    assert _blob_files(storage) == []


# -- names that become paths ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../x", "a/b", "", "..", "1abc", "a b", "a.b", "x\n"],
)
def test_check_name_rejects_names_that_are_not_identifiers(name):
    with pytest.raises(InvalidNameError, match="step"):
        paths.check_name("step", name)


@pytest.mark.parametrize("name", ["train_1", "start", "_private", "CamelFlow"])
def test_check_name_accepts_identifiers(name):
    assert paths.check_name("step", name) == name


@pytest.mark.parametrize(
    "run_id",
    [
        "../x",
        "..",
        "a/b",
        "",
        "a..b",
        "/abs",
        "x" * 200,
        "r1\n",
    ],
)
def test_check_run_id_rejects_ids_that_could_escape_the_runs_folder(run_id):
    with pytest.raises(InvalidNameError):
        paths.check_run_id(run_id)


@pytest.mark.parametrize("run_id", ["20261122T231215-7f3a", "1", "my_run.2"])
def test_check_run_id_accepts_ordinary_ids(run_id):
    assert paths.check_run_id(run_id) == run_id


def test_a_blob_store_of_an_invalid_flow_name_writes_nothing(storage):
    with pytest.raises(InvalidNameError):
        BlobStore(storage, "../escape").put("v", 1)
    assert storage.list_dir("") == []


def test_a_blob_key_that_is_not_a_hash_is_rejected_before_any_read(blobs):
    for key in ["../../etc/passwd", "ABCDEF0123456789", "abc"]:
        with pytest.raises(InvalidNameError):
            blobs.get(key)


# -- large buffers kept out of the pickle ----------------------------------------------------


def test_a_large_array_is_stored_beside_its_pickle_and_comes_back_writable(blobs, storage):
    np = pytest.importorskip("numpy")
    array = np.frombuffer(os.urandom(3 * MB), dtype=np.uint8).reshape(3, MB).copy()
    other = np.frombuffer(os.urandom(2 * MB), dtype=np.float64)  # read-only stays read-only
    value = {"a": array, "b": other, "note": "small things stay in the pickle"}
    key = blobs.put("arrays", value)
    stored = storage.read_bytes(paths.blob_file(FLOW, key))
    assert stored[:1] == b"B" and key == blake3.blake3(stored).hexdigest()
    assert len(stored) < 5 * MB + 4096  # written once, not pickled in-band as well
    back = blobs.get(key)
    np.testing.assert_array_equal(back["a"], array)
    np.testing.assert_array_equal(back["b"], other)
    assert back["note"] == value["note"]
    assert back["a"].flags.writeable and not back["b"].flags.writeable
    assert back["a"].ctypes.data % 64 == 0 and back["b"].ctypes.data % 64 == 0
    back["a"][0, 0] ^= 1  # a fresh read is not affected by changes to an earlier one
    np.testing.assert_array_equal(blobs.get(key)["a"], array)
    assert blobs.put("again", value) == key  # same value, same key: stored once


def test_a_large_compressible_array_is_stored_compressed(blobs, storage):
    np = pytest.importorskip("numpy")
    zeros = np.zeros(4 * MB, dtype=np.uint8)
    key = blobs.put("zeros", zeros)
    stored = storage.read_bytes(paths.blob_file(FLOW, key))
    assert stored[:1] == b"Z" and len(stored) < 100_000
    np.testing.assert_array_equal(blobs.get(key), zeros)


@pytest.mark.parametrize("cut", [1, 100, 3 * MB])
def test_a_damaged_big_buffer_blob_is_reported_corrupt(blobs, storage, cut):
    key = blobs.put("noise", bytearray(os.urandom(3 * MB)))
    path = paths.blob_file(FLOW, key)
    stored = bytearray(storage.read_bytes(path))
    stored[cut] ^= 0xFF
    storage.write_atomic(path, bytes(stored))
    with pytest.raises(BlobCorruptError, match=key[:12]):
        blobs.get(key)


def test_many_small_blobs_are_put_together_and_a_damaged_copy_is_replaced(blobs, storage):
    from rayflow.datastore import pack

    packed = [pack(f"item {i}", f"value {i}") for i in range(40)]
    blobs.put_packed(packed[3])
    path = paths.blob_file(blobs.flow, packed[5].key)
    storage.write_atomic(path, b"not the blob")  # a damaged copy already there
    blobs.put_many(packed)
    assert [blobs.get(p.key) for p in packed] == [f"value {i}" for i in range(40)]


def test_a_foreach_list_on_a_slow_s3_is_stored_in_concurrent_batches(s3_slow_url, s3_slow_proxy):
    from rayflow.datastore import open_storage, pack

    store = BlobStore(open_storage(s3_slow_url), "BlobFlow")
    store.storage.write_atomic("warm", b"x")
    packed = [pack(f"item {i}", i) for i in range(200)]
    s3_slow_proxy.reset_counts()
    store.put_many(packed)
    assert s3_slow_proxy.peak_in_flight >= 16  # one batch of writes
    assert s3_slow_proxy.requests <= 200 + 2  # one write each, no read first
    assert store.get(packed[150].key) == 150
