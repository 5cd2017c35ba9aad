"""The storage seam: a handful of primitives that every backend provides.

Invariants every backend keeps:
- ``write_atomic`` makes a file appear whole or not at all: a reader never sees a prefix of it,
  and a crash while writing leaves the old state (local: temp file + rename; object stores: a
  single PUT).
- Paths are relative to the backend's root and always use ``/``.
- ``list_dir`` returns the names directly under a folder (files and folders), ``[]`` if absent.
- The ``*_many`` helpers do what their one-file primitive does for many files at once, as
  concurrent requests where the backend is remote (an object store pays its latency once per
  batch, not once per file). They give no order among the files of one batch: a file that must
  appear after others (a task's record) is written by a later call.
"""

from __future__ import annotations

import abc
import mmap
from collections.abc import Iterable
from typing import Any, NamedTuple

from ._errors import DatastoreURLError, MissingRecordError

ALIGNED_FROM = 1 << 20
"""Files at least this big are read into (or mapped as) page-aligned memory."""


class FileStat(NamedTuple):
    """Size in bytes, and last modification in epoch seconds (None when the backend cannot say)."""

    size: int
    mtime: float | None


class Storage(abc.ABC):
    """A root folder somewhere; subclasses implement the primitives, helpers build on them."""

    url: str
    keeps_empty_folders = False
    """True where a folder exists on its own (local file systems); object stores have none."""

    @abc.abstractmethod
    def read_bytes(self, path: str) -> bytes:
        """Return the file's bytes; raise MissingRecordError if it does not exist."""

    @abc.abstractmethod
    def write_atomic(self, path: str, data: bytes) -> None:
        """Write the whole file so that no reader ever sees a part of it."""

    @abc.abstractmethod
    def exists(self, path: str) -> bool: ...

    @abc.abstractmethod
    def list_dir(self, path: str) -> list[str]: ...

    @abc.abstractmethod
    def delete(self, path: str) -> None:
        """Remove a file if it exists (temporary files; blobs only when found corrupt or by gc)."""

    def read_many(self, paths: Iterable[str]) -> dict[str, bytes | None]:
        """``read_bytes`` of every path: the bytes, or None for a file that does not exist.
        Any other failure raises (a DatastoreError on remote backends)."""
        out: dict[str, bytes | None] = {}
        for path in paths:
            try:
                out[path] = self.read_bytes(path)
            except MissingRecordError:
                out[path] = None
        return out

    def write_many(self, files: dict[str, bytes]) -> None:
        """``write_atomic`` of every file; each appears whole or not at all, in no given order."""
        for path, data in files.items():
            self.write_atomic(path, data)

    def exists_many(self, paths: Iterable[str]) -> dict[str, bool]:
        """``exists`` of every path (files and folders)."""
        return {path: self.exists(path) for path in paths}

    def stat(self, path: str) -> FileStat | None:
        """Size and age of a file, None if it does not exist. Backends answer without reading
        the file; this default reads it and cannot tell its age."""
        try:
            return FileStat(len(self.read_bytes(path)), None)
        except MissingRecordError:
            return None

    def list_temps(self, path: str) -> list[str]:
        """Names of the temporary files directly under a folder (left by writers that died
        before their rename); ``list_dir`` never shows them. Backends whose writes are single
        requests have none."""
        return []

    def read_buffer(self, path: str) -> Any:
        """The file's bytes in a writable buffer the caller may keep views of; page-aligned when
        large, so arrays mapped onto it are aligned as they were when written."""
        data = self.read_bytes(path)
        buf = new_buffer(len(data))
        buf[:] = data
        return buf

    def write_chunks(self, path: str, chunks: list[Any]) -> None:
        """``write_atomic`` of the concatenated chunks (bytes-like), without joining them where
        the backend can write them one by one."""
        self.write_atomic(path, b"".join(chunks))

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8")

    def write_text(self, path: str, text: str) -> None:
        self.write_atomic(path, text.encode("utf-8"))

    def write_first(self, path: str, data: bytes) -> None:
        """``write_atomic`` of the first file of a new folder, which appears with it: a reader
        never sees the folder without the file (object stores have no folders to see)."""
        self.write_atomic(path, data)

    def verify(self) -> None:
        """Raise DatastoreURLError with one line if the datastore clearly cannot be used
        (missing bucket, rejected credentials, unreachable endpoint, full or read-only disk)."""
        return None


def new_buffer(size: int) -> Any:
    """A zeroed writable buffer: anonymous memory (page-aligned) when large, else a bytearray."""
    return mmap.mmap(-1, size) if size >= ALIGNED_FROM else bytearray(size)


def open_storage(url: str, verify: bool = False) -> Storage:
    """Open ``url`` with the backend fsspec's registry names for its protocol.

    A plain path (or ``file://``) gets the local backend; every other protocol is looked up in
    fsspec's registry, so a missing package is reported with fsspec's own install hint.
    Opening makes no request (except for backends that connect in their constructor, such as
    ftp, bounded in time) unless ``verify``: then one bounded request checks that the bucket
    exists and the credentials are accepted, or that a local folder can be written. Object
    stores with a probe also verify on their first request.
    """
    import fsspec
    from fsspec.core import split_protocol

    protocol, rest = split_protocol(url)
    if protocol in (None, "file", "local"):
        from ._local import LocalStorage

        storage: Storage = LocalStorage(rest if protocol else url)
    else:
        try:
            fs_cls = fsspec.get_filesystem_class(protocol)
        except (ValueError, ImportError) as exc:
            hint = str(exc).splitlines()[0] if str(exc) else ""
            extra = " (pip install 'rayflow[s3]')" if protocol in ("s3", "s3a") else ""
            raise DatastoreURLError(
                f"datastore {url}: cannot open protocol {protocol!r}: {hint}{extra}"
            ) from None
        from ._fsspec import open_fsspec

        storage = open_fsspec(url, protocol, fs_cls)
    if verify:
        storage.verify()
    return storage
