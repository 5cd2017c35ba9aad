"""The storage seam: a handful of primitives that every backend provides.

Invariants every backend keeps:
- ``write_atomic`` makes a file appear whole or not at all: a reader never sees a prefix of it,
  and a crash while writing leaves the old state (local: temp file + rename; object stores: a
  single PUT).
- Paths are relative to the backend's root and always use ``/``.
- ``list_dir`` returns the names directly under a folder (files and folders), ``[]`` if absent.
"""

from __future__ import annotations

import abc
import functools
import mmap
import os
import re
import threading
import uuid
from typing import Any, NamedTuple

from ._errors import (
    DatastoreAccessDenied,
    DatastoreBucketMissing,
    DatastoreURLError,
    MissingRecordError,
)

_TEMP = re.compile(r"\.tmp-[0-9a-f]{12}$")
_ALIGNED_FROM = 1 << 20


class FileStat(NamedTuple):
    """Size in bytes, and last modification in epoch seconds (None when the backend cannot say)."""

    size: int
    mtime: float | None


def _mtime(info: dict[str, Any]) -> float | None:
    """Modification time from an fsspec ``info`` dict: s3fs says LastModified, others mtime."""
    for name in ("LastModified", "mtime", "last_modified", "modified", "created"):
        value = info.get(name)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None


class Storage(abc.ABC):
    """A root folder somewhere; subclasses implement the primitives, helpers build on them."""

    url: str

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

    def describe(self) -> str:
        return self.url

    def verify(self) -> None:
        """Raise DatastoreURLError with one line if the datastore clearly cannot be used
        (missing bucket, rejected credentials, unreachable endpoint). Backends whose problems
        only show on first use keep this a no-op."""
        return None


def new_buffer(size: int) -> Any:
    """A zeroed writable buffer: anonymous memory (page-aligned) when large, else a bytearray."""
    return mmap.mmap(-1, size) if size >= _ALIGNED_FROM else bytearray(size)


@functools.cache
def _many_files_allowed() -> bool:
    """Each mapping keeps a file descriptor open while its data is alive (a join over 500 inputs
    holds 500): map files only when the descriptor limit allows thousands."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < 65536:
            want = hard if hard == resource.RLIM_INFINITY else min(hard, 65536)
            if want > soft:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
                soft = want
        return soft == resource.RLIM_INFINITY or soft >= 8192
    except (ImportError, ValueError, OSError):
        return False


class LocalStorage(Storage):
    """A folder on a local (or shared POSIX) file system."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        self.url = self.root
        self._made: set[str] = set()
        self._lock = threading.Lock()

    def _abs(self, path: str) -> str:
        return os.path.join(self.root, path)

    def read_bytes(self, path: str) -> bytes:
        try:
            with open(self._abs(path), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise MissingRecordError(f"{path} not found in datastore {self.url}") from None

    def read_buffer(self, path: str) -> Any:
        """Large files are mapped, not read: private and copy-on-write, so the caller may change
        what it maps onto them. Safe because files are only ever replaced by a rename, never
        rewritten in place, so a mapped file's bytes cannot change."""
        try:
            with open(self._abs(path), "rb", buffering=0) as f:
                size = os.fstat(f.fileno()).st_size
                if size >= _ALIGNED_FROM and _many_files_allowed():
                    return mmap.mmap(f.fileno(), size, flags=mmap.MAP_PRIVATE,
                                     prot=mmap.PROT_READ | mmap.PROT_WRITE)
                buf = new_buffer(size)
                got = f.readinto(buf)
                while got < size:
                    n = f.readinto(memoryview(buf)[got:])
                    if not n:
                        return bytearray(memoryview(buf)[:got])
                    got += n
                return buf
        except FileNotFoundError:
            raise MissingRecordError(f"{path} not found in datastore {self.url}") from None

    def write_atomic(self, path: str, data: bytes) -> None:
        self.write_chunks(path, [data])

    def write_chunks(self, path: str, chunks: list[Any]) -> None:
        full = self._abs(path)
        parent = os.path.dirname(full)
        if parent not in self._made:
            os.makedirs(parent, exist_ok=True)
            with self._lock:
                self._made.add(parent)
        tmp = f"{full}.tmp-{uuid.uuid4().hex[:12]}"
        try:
            try:
                f = open(tmp, "wb")
            except FileNotFoundError:  # the folder was removed since we made it
                os.makedirs(parent, exist_ok=True)
                f = open(tmp, "wb")
            with f:
                for chunk in chunks:
                    f.write(chunk)
            os.replace(tmp, full)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def exists(self, path: str) -> bool:
        return os.path.exists(self._abs(path))

    def stat(self, path: str) -> FileStat | None:
        try:
            st = os.stat(self._abs(path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return FileStat(st.st_size, st.st_mtime)

    def list_dir(self, path: str) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self._abs(path)) if not _TEMP.search(n))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def list_temps(self, path: str) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self._abs(path)) if _TEMP.search(n))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def delete(self, path: str) -> None:
        try:
            os.unlink(self._abs(path))
        except FileNotFoundError:
            pass


class FsspecStorage(Storage):
    """Any fsspec file system (s3://, gs://, memory://...). One ``pipe_file`` is one PUT.

    On object stores with a bucket probe (s3), the first write verifies the bucket first: some
    servers create a missing bucket on PUT, which would turn a mistyped URL into a new bucket.
    """

    def __init__(self, url: str, fs: Any, root: str) -> None:
        self.url = url
        self.fs = fs
        self.root = root.rstrip("/")
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self._probe = _PROBES.get(protocol)
        self._verified = self._probe is None

    def _abs(self, path: str) -> str:
        return f"{self.root}/{path}" if self.root else path

    def read_bytes(self, path: str) -> bytes:
        try:
            return self.fs.cat_file(self._abs(path))
        except FileNotFoundError:
            raise MissingRecordError(f"{path} not found in datastore {self.url}") from None

    def write_atomic(self, path: str, data: bytes) -> None:
        if not self._verified:
            self.verify()
        self.fs.pipe_file(self._abs(path), data)

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(self._abs(path)))

    def stat(self, path: str) -> FileStat | None:
        try:
            info = self.fs.info(self._abs(path))
        except FileNotFoundError:
            return None
        if info.get("type") == "directory":
            return None
        return FileStat(int(info.get("size") or 0), _mtime(info))

    def list_dir(self, path: str) -> list[str]:
        full = self._abs(path)
        try:
            entries = self.fs.ls(full, detail=False, refresh=True)
        except FileNotFoundError:
            return []
        names = []
        for entry in entries:
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if name and entry.rstrip("/") != full.rstrip("/"):
                names.append(name)
        return sorted(set(names))

    def delete(self, path: str) -> None:
        try:
            self.fs.rm_file(self._abs(path))
        except FileNotFoundError:
            pass

    def verify(self) -> None:
        probe = self._probe or _probe_generic
        _bounded(lambda: probe(self), self.url)
        self._verified = True


def open_storage(url: str, verify: bool = False) -> Storage:
    """Open ``url`` with the backend fsspec's registry names for its protocol.

    A plain path (or ``file://``) gets the local backend; every other protocol is looked up in
    fsspec's registry, so a missing package is reported with fsspec's own install hint.
    Opening is lazy (no request is made) unless ``verify``: then one bounded request checks
    that the bucket exists and the credentials are accepted (``Storage.verify``).
    """
    import fsspec
    from fsspec.core import split_protocol

    protocol, rest = split_protocol(url)
    if protocol in (None, "file", "local"):
        return LocalStorage(rest if protocol else url)  # problems show as OSError on first write
    try:
        fs_cls = fsspec.get_filesystem_class(protocol)
    except (ValueError, ImportError) as exc:
        hint = str(exc).splitlines()[0] if str(exc) else ""
        extra = " (pip install 'rayflow[s3]')" if protocol in ("s3", "s3a") else ""
        raise DatastoreURLError(f"datastore {url}: cannot open protocol {protocol!r}: {hint}{extra}") from None
    try:
        fs = fs_cls(**_client_options(protocol))
    except Exception as exc:  # noqa: BLE001 - any constructor failure is a URL problem
        raise DatastoreURLError(f"datastore {url}: {exc}") from None
    root = fs_cls._strip_protocol(url)
    storage = FsspecStorage(url, fs, root)
    if verify:
        storage.verify()
    return storage


def _client_options(protocol: str) -> dict[str, Any]:
    """Options that make object stores behave like the local backend (no stale listings)."""
    if protocol in ("s3", "s3a"):
        # A fresh client: s3fs caches clients by arguments, not by the credentials in the
        # environment, so a cached client would ignore changed (or fixed) credentials.
        opts: dict[str, Any] = {"use_listings_cache": False, "skip_instance_cache": True}
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3")
        if endpoint:
            opts["endpoint_url"] = endpoint
        return opts
    return {}


# -- verify: one bounded request when a datastore is opened for a run ------------------------

VERIFY_SECONDS = 10.0


def _bounded(probe: Any, url: str) -> None:
    """Run ``probe`` in a daemon thread; a hung endpoint must not hang the caller."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            probe()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=target, name="rayflow-datastore-verify", daemon=True)
    worker.start()
    worker.join(VERIFY_SECONDS)
    if not outcome:
        raise DatastoreURLError(f"datastore {url}: no answer within {VERIFY_SECONDS:.0f} s "
                                f"from the endpoint{_at_endpoint()} (is it reachable?)")
    exc = outcome[0]
    if exc is not None:
        if isinstance(exc, DatastoreURLError):
            raise exc.with_traceback(None) from None
        if isinstance(exc, PermissionError):
            raise DatastoreAccessDenied(f"datastore {url}: {_reason(exc)}") from None
        raise DatastoreURLError(f"datastore {url}: {_reason(exc)}") from None


def _at_endpoint() -> str:
    """`` at <endpoint>`` when a custom S3 endpoint is set (a URL, never a secret)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3")
    return f" at {endpoint}" if endpoint else ""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    name = type(exc).__name__
    if isinstance(exc, PermissionError):
        return f"access denied ({text})"
    if "NoCredentials" in name or "Unable to locate credentials" in text:
        return ("no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                "AWS_PROFILE)")
    if "EndpointConnection" in name or isinstance(exc, ConnectionError):
        return f"cannot reach the endpoint ({text})"
    return f"{name}: {text}"


def _probe_s3(storage: FsspecStorage) -> None:
    """HEAD the bucket: 404 is a missing bucket, 403 rejected credentials (values not shown)."""
    bucket = storage.root.split("/", 1)[0]
    if not bucket:
        raise DatastoreURLError(f"datastore {storage.url}: no bucket in the URL "
                                f"(expected s3://bucket/prefix)")
    try:
        storage.fs.call_s3("head_bucket", Bucket=bucket)
    except FileNotFoundError:
        raise DatastoreBucketMissing(f"datastore {storage.url}: bucket '{bucket}' does not exist"
                                     f"{_at_endpoint()} (create it first)") from None
    except PermissionError:
        raise DatastoreAccessDenied(
            f"datastore {storage.url}: access to bucket '{bucket}' denied: the credentials were "
            f"rejected or lack permission (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
            f"AWS_PROFILE)") from None


def _probe_generic(storage: FsspecStorage) -> None:
    """Any other fsspec backend: listing the root's parent must not fail for access reasons."""
    parent = storage.root.rsplit("/", 1)[0] if "/" in storage.root else storage.root
    try:
        storage.fs.exists(parent or storage.root)
    except FileNotFoundError:
        pass


_PROBES = {"s3": _probe_s3, "s3a": _probe_s3}
