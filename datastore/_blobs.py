"""Content-addressed artifact blobs.

A blob's key is the BLAKE3 hash of its payload (SHA-256 for blobs written before 0.2, still
accepted when read), so an unchanged artifact handed down the graph, or
cloned by a resume, is stored once; a blob is checked against its key whenever it is read.

Stored forms, told apart by the first byte:
- ``Z`` + zlib(pickle) and ``R`` + pickle: the payload is the pickle (protocol 5, in-band);
- ``B`` (big buffers): the whole file is the payload. Large contiguous buffers (numpy arrays,
  bytes, anything exposing pickle protocol 5 buffers) are kept out of the pickle and written
  straight from the object's memory, 64-byte aligned. Reading maps them back without a copy, so a
  200 MB array costs one hash and one file write or read, not three extra copies.
Large payloads that do not compress well are never compressed: a compressor that gains nothing
only slows a 1 GB array down.
"""

from __future__ import annotations

import hashlib
import struct
import time
import zlib
from functools import partial
from typing import Any, NamedTuple

import blake3
import cloudpickle

from . import _paths
from ._errors import ArtifactPickleError, BlobCorruptError, BlobMissingError, MissingRecordError
from ._parallel import concurrent, run_all
from ._storage import Storage

_SAMPLE = 1 << 20
_SMALL = 1 << 16
_OUT_OF_BAND = 1 << 20  # buffers at least this big are written beside the pickle
_MAGIC = b"BRFB1"  # first bytes of a ``B`` blob
_ALIGN = 64
_VERIFY_UP_TO = 1 << 20  # an existing blob this small is read back and checked on every write
_SWEEP_FROM = 1 << 20  # a write this big also removes stale temp files of its key
STALE_TEMP_SECONDS = 15 * 60  # a temp file untouched this long belongs to a dead writer
# Keys this process found corrupt or missing: the next write of one checks it in full. A cache
# of facts about storage, not state a result depends on, so losing it (a new worker) is harmless.
_SUSPECT: set[str] = set()


class Packed(NamedTuple):
    """A value ready to store: its key, the pieces of its stored file in order, and the size of
    its payload (what a reader gets back, ``DataArtifact.size``), recorded in the task record."""

    key: str
    chunks: list[Any]
    size: int = 0


def pickle_value(name: str, value: Any) -> bytes:
    """Pickle ``value`` in-band; the error names the artifact so the user knows which one to fix."""
    try:
        return cloudpickle.dumps(value, protocol=5)
    except Exception as exc:  # noqa: BLE001 - pickling can raise anything
        raise ArtifactPickleError(
            f"artifact '{name}' cannot be pickled ({type(exc).__name__}: {exc})"
        ) from None


def _hasher() -> Any:
    # BLAKE3 on every core: a 200 MB artifact hashes in ~30 ms here, where SHA-256 took ~170 ms,
    # and every artifact is hashed once when written and once more when read.
    return blake3.blake3(max_threads=blake3.blake3.AUTO)


def content_key(data: Any) -> str:
    hasher = _hasher()
    hasher.update(data)
    return hasher.hexdigest()


def _matches(data: Any, key: str) -> bool:
    return content_key(data) == key or hashlib.sha256(data).hexdigest() == key


def _payload_of(stored: Any) -> memoryview | None:
    try:
        return decode(stored)
    except (ValueError, zlib.error):
        return None


def _stored_matches(stored: Any, key: str) -> bool:
    data = _payload_of(stored)
    return data is not None and _matches(data, key)


def remove_stale_temps(
    storage: Storage, path: str, older_than: float = STALE_TEMP_SECONDS
) -> list[str]:
    """Remove the temp files of ``path`` that no writer touched for ``older_than`` seconds (their
    writer died before its rename); return their paths. A live writer keeps its file fresh."""
    folder, _, name = path.rpartition("/")
    now = time.time()
    removed = []
    for temp in storage.list_temps(folder):
        if not temp.startswith(f"{name}.tmp-"):
            continue
        found = storage.stat(f"{folder}/{temp}")
        if found is not None and found.mtime is not None and now - found.mtime > older_than:
            storage.delete(f"{folder}/{temp}")
            removed.append(f"{folder}/{temp}")
    return removed


def _compressible(view: memoryview) -> bool:
    sample = view[:_SAMPLE]
    return len(zlib.compress(sample, 1)) <= 0.8 * len(sample)


def encode(data: bytes) -> list[Any]:
    """Stored chunks of an in-band payload: a header byte, then the payload (zlib if it pays)."""
    if len(data) <= _SMALL:
        packed = zlib.compress(data, 1)
        return [b"Z", packed] if len(packed) < len(data) else [b"R", data]
    if not _compressible(memoryview(data)):
        return [b"R", data]
    return [b"Z", zlib.compress(data, 1)]


def pack_bytes(data: bytes) -> Packed:
    return Packed(content_key(data), encode(data), len(data))


def _pad(offset: int) -> int:
    return -offset % _ALIGN


def pack(name: str, value: Any) -> Packed:
    """Pickle ``value`` for storage, keeping big buffers out of the pickle when that is faster."""
    buffers: list[memoryview] = []

    def keep_inside(buf: Any) -> bool:
        try:
            view = buf.raw()
        except BufferError:  # not contiguous: pickled in-band
            return True
        if view.nbytes < _OUT_OF_BAND:
            return True
        buffers.append(view)
        return False

    try:
        main = cloudpickle.dumps(value, protocol=5, buffer_callback=keep_inside)
    except Exception as exc:  # noqa: BLE001 - pickling can raise anything
        raise ArtifactPickleError(
            f"artifact '{name}' cannot be pickled ({type(exc).__name__}: {exc})"
        ) from None
    if not buffers:
        return pack_bytes(main)
    if _compressible(max(buffers, key=lambda v: v.nbytes)):
        return pack_bytes(pickle_value(name, value))  # zeros and text shrink a lot: compress
    parts = [memoryview(main)] + buffers
    head = _MAGIC + struct.pack(f"<I{len(parts)}Q", len(parts), *(p.nbytes for p in parts))
    chunks: list[Any] = [head + bytes(_pad(len(head)))]
    offset = len(chunks[0])
    for part in parts:
        chunks.append(part)
        offset += part.nbytes
        if _pad(offset):
            chunks.append(bytes(_pad(offset)))
            offset += _pad(offset)
    digest = _hasher()
    for chunk in chunks:
        digest.update(chunk)
    return Packed(digest.hexdigest(), chunks, offset)


def decode(stored: Any) -> memoryview:
    """The payload of a stored blob, without copying it where the form allows."""
    view = memoryview(stored)
    tag = bytes(view[:1])
    if tag == b"Z":
        return memoryview(zlib.decompress(view[1:]))
    if tag == b"R":
        return view[1:]
    if tag == b"B" and bytes(view[: len(_MAGIC)]) == _MAGIC:
        return view
    raise ValueError(f"unknown blob header {tag!r}")


def unpickle(payload: Any) -> Any:
    """The value of a payload returned by ``BlobStore.get_payload`` (either form)."""
    view = memoryview(payload)
    if bytes(view[: len(_MAGIC)]) != _MAGIC:
        return cloudpickle.loads(view)
    at = len(_MAGIC)
    (count,) = struct.unpack_from("<I", view, at)
    sizes = struct.unpack_from(f"<{count}Q", view, at + 4)
    offset = at + 4 + 8 * count
    offset += _pad(offset)
    parts = []
    for size in sizes:
        parts.append(view[offset : offset + size])
        offset += size + _pad(offset + size)
    if offset != len(view):
        raise ValueError("blob size does not match its header")
    return cloudpickle.loads(parts[0], buffers=parts[1:])


class BlobStore:
    """Blobs of one flow. ``put`` is idempotent; every read is verified against the key."""

    def __init__(self, storage: Storage, flow: str) -> None:
        self.storage = storage
        self.flow = flow

    def put_packed(self, packed: Packed) -> str:
        """Store ``packed`` unless an intact copy is already there; a damaged copy (wrong size,
        or content that does not match the key) is replaced atomically, so one bad file cannot
        poison every later run that produces the same value."""
        path = _paths.blob_file(self.flow, packed.key)
        size = sum(memoryview(chunk).nbytes for chunk in packed.chunks)
        if self._intact(path, packed.key, size):
            return packed.key
        self.storage.write_chunks(path, packed.chunks)
        _SUSPECT.discard(packed.key)
        if size >= _SWEEP_FROM:
            remove_stale_temps(self.storage, path)
        return packed.key

    def put_many(self, packed: list[Packed]) -> None:
        """``put_packed`` of many blobs: the small ones in one batch of writes (a round trip on
        an object store, however many blobs: a foreach's item list is thousands of small
        blobs), the large ones one by one. On an object store a small blob is written without
        reading what is there first: the write costs one request, as the read would, and it
        replaces a missing or damaged copy alike (same key, same bytes). On a local disk the
        small ones are read back first, in one batch, and only missing or damaged ones written."""
        small, large = [], []
        for p in packed:
            size = sum(memoryview(chunk).nbytes for chunk in p.chunks)
            (small if size <= _VERIFY_UP_TO else large).append(p)
        if small:
            files = {_paths.blob_file(self.flow, p.key): p for p in small}
            stored = {} if concurrent(self.storage) else self.storage.read_many(files)
            todo = {
                path: b"".join(bytes(memoryview(c)) for c in p.chunks)
                for path, p in files.items()
                if stored.get(path) is None or not _stored_matches(stored[path], p.key)
            }
            self.storage.write_many(todo)
            for p in small:
                _SUSPECT.discard(p.key)
        run_all(self.storage, [partial(self.put_packed, p) for p in large])

    def _intact(self, path: str, key: str, size: int) -> bool:
        """Small blobs (and keys seen damaged in this process) are read back and verified: for
        them a read costs about what an existence check does. A large one is checked by size,
        which catches truncation; a large one whose content is damaged at the same size is
        removed by the first reader that finds it so (``get_payload``), then written afresh."""
        if size <= _VERIFY_UP_TO or key in _SUSPECT:
            try:
                stored = self.storage.read_bytes(path)
            except MissingRecordError:
                return False
            return _stored_matches(stored, key)
        found = self.storage.stat(path)
        return found is not None and found.size == size

    def put_bytes(self, data: bytes) -> str:
        return self.put_packed(pack_bytes(data))

    def put(self, name: str, value: Any) -> str:
        return self.put_packed(pack(name, value))

    def get_payload(self, key: str, owner: str = "", writable: bool = True) -> memoryview:
        """The verified payload: a writable view when ``writable`` (arrays unpickled from it
        can be changed in place), else a view of the bytes read (no copy on any backend)."""
        path = _paths.blob_file(self.flow, key)
        where = f" (artifact of {owner})" if owner else ""
        try:
            stored = self.storage.read_buffer(path) if writable else self.storage.read_bytes(path)
        except MissingRecordError:
            _SUSPECT.add(key)
            raise BlobMissingError(
                f"blob {key[:12]} is missing from {self.storage.url}{where}", key
            ) from None
        data = _payload_of(stored)
        if data is None or not _matches(data, key):
            _SUSPECT.add(key)
            removed = ""
            if memoryview(stored).nbytes > _VERIFY_UP_TO:
                # Writers check large blobs by size only: remove this one so that the next
                # write of the value, in any process, stores it again.
                self.storage.delete(path)
                removed = " (removed, to be written afresh)"
            raise BlobCorruptError(
                f"blob {key[:12]} in {self.storage.url}/{path} is corrupt: its content does not "
                f"match its key{where}{removed}",
                key,
            )
        return data

    def get_bytes(self, key: str, owner: str = "") -> bytes:
        payload = self.get_payload(key, owner, writable=False)
        return (
            payload.obj
            if isinstance(payload.obj, bytes) and payload.nbytes == len(payload.obj)
            else bytes(payload)
        )

    def get(self, key: str, owner: str = "") -> Any:
        return unpickle(self.get_payload(key, owner))

    def exists(self, key: str) -> bool:
        return self.storage.exists(_paths.blob_file(self.flow, key))
