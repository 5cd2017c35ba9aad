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
import zlib
from typing import Any, NamedTuple

import blake3
import cloudpickle

from . import _paths
from ._errors import ArtifactPickleError, BlobCorruptError, MissingRecordError
from ._storage import Storage

_SAMPLE = 1 << 20
_SMALL = 1 << 16
_OUT_OF_BAND = 1 << 20          # buffers at least this big are written beside the pickle
_MAGIC = b"BRFB1"               # first bytes of a ``B`` blob
_ALIGN = 64


class Packed(NamedTuple):
    """A value ready to store: its key and the pieces of its stored file, in order."""

    key: str
    chunks: list[Any]


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
    return Packed(content_key(data), encode(data))


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
    return Packed(digest.hexdigest(), chunks)


def decode(stored: Any) -> memoryview:
    """The payload of a stored blob, without copying it where the form allows."""
    view = memoryview(stored)
    tag = bytes(view[:1])
    if tag == b"Z":
        return memoryview(zlib.decompress(view[1:]))
    if tag == b"R":
        return view[1:]
    if tag == b"B" and bytes(view[:len(_MAGIC)]) == _MAGIC:
        return view
    raise ValueError(f"unknown blob header {tag!r}")


def unpickle(payload: Any) -> Any:
    """The value of a payload returned by ``BlobStore.get_payload`` (either form)."""
    view = memoryview(payload)
    if bytes(view[:len(_MAGIC)]) != _MAGIC:
        return cloudpickle.loads(view)
    at = len(_MAGIC)
    (count,) = struct.unpack_from("<I", view, at)
    sizes = struct.unpack_from(f"<{count}Q", view, at + 4)
    offset = at + 4 + 8 * count
    offset += _pad(offset)
    parts = []
    for size in sizes:
        parts.append(view[offset:offset + size])
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
        path = _paths.blob_file(self.flow, packed.key)
        if not self.storage.exists(path):
            self.storage.write_chunks(path, packed.chunks)
        return packed.key

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
            raise MissingRecordError(f"blob {key[:12]} is missing from {self.storage.url}{where}") from None
        try:
            data = decode(stored)
        except (ValueError, zlib.error):
            data = memoryview(b"")
        if not _matches(data, key):
            raise BlobCorruptError(
                f"blob {key[:12]} in {self.storage.url}/{path} is corrupt: its content does not "
                f"match its key{where}"
            )
        return data

    def get_bytes(self, key: str, owner: str = "") -> bytes:
        payload = self.get_payload(key, owner, writable=False)
        return payload.obj if isinstance(payload.obj, bytes) and payload.nbytes == len(payload.obj) \
            else bytes(payload)

    def get(self, key: str, owner: str = "") -> Any:
        return unpickle(self.get_payload(key, owner))

    def exists(self, key: str) -> bool:
        return self.storage.exists(_paths.blob_file(self.flow, key))
