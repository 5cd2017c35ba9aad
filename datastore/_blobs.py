"""Content-addressed artifact blobs.

A blob's key is the SHA-256 of its pickled bytes, so an unchanged artifact handed down the graph,
or cloned by a resume, is stored once; a blob is checked against its key whenever it is read.
Stored form: one header byte (``Z`` zlib, ``R`` raw) then the payload. Large payloads that do not
compress well are stored raw, so a 1 GB array is not slowed down by a compressor that gains nothing.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

import cloudpickle

from . import _paths
from ._errors import ArtifactPickleError, BlobCorruptError, MissingRecordError
from ._storage import Storage

_SAMPLE = 1 << 20
_SMALL = 1 << 16


def pickle_value(name: str, value: Any) -> bytes:
    """Pickle ``value``; the error names the artifact so the user knows which one to fix."""
    try:
        return cloudpickle.dumps(value, protocol=5)
    except Exception as exc:  # noqa: BLE001 - pickling can raise anything
        raise ArtifactPickleError(
            f"artifact '{name}' cannot be pickled ({type(exc).__name__}: {exc})"
        ) from None


def content_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode(data: bytes) -> bytes:
    if len(data) <= _SMALL:
        packed = zlib.compress(data, 1)
        return b"Z" + packed if len(packed) < len(data) else b"R" + data
    sample = data[:_SAMPLE]
    if len(zlib.compress(sample, 1)) > 0.8 * len(sample):
        return b"R" + data
    return b"Z" + zlib.compress(data, 1)


def decode(stored: bytes) -> bytes:
    tag, body = stored[:1], memoryview(stored)[1:]
    if tag == b"Z":
        return zlib.decompress(body)
    if tag == b"R":
        return bytes(body)
    raise ValueError(f"unknown blob header {tag!r}")


class BlobStore:
    """Blobs of one flow. ``put`` is idempotent; ``get`` verifies before unpickling."""

    def __init__(self, storage: Storage, flow: str) -> None:
        self.storage = storage
        self.flow = flow

    def put_bytes(self, data: bytes) -> str:
        key = content_key(data)
        path = _paths.blob_file(self.flow, key)
        if not self.storage.exists(path):
            self.storage.write_atomic(path, encode(data))
        return key

    def put(self, name: str, value: Any) -> str:
        return self.put_bytes(pickle_value(name, value))

    def get_bytes(self, key: str, owner: str = "") -> bytes:
        path = _paths.blob_file(self.flow, key)
        where = f" (artifact of {owner})" if owner else ""
        try:
            stored = self.storage.read_bytes(path)
        except MissingRecordError:
            raise MissingRecordError(f"blob {key[:12]} is missing from {self.storage.url}{where}") from None
        try:
            data = decode(stored)
        except (ValueError, zlib.error):
            data = b""
        if content_key(data) != key:
            raise BlobCorruptError(
                f"blob {key[:12]} in {self.storage.url}/{path} is corrupt: its content does not "
                f"match its key{where}"
            )
        return data

    def get(self, key: str, owner: str = "") -> Any:
        return cloudpickle.loads(self.get_bytes(key, owner))

    def exists(self, key: str) -> bool:
        return self.storage.exists(_paths.blob_file(self.flow, key))
