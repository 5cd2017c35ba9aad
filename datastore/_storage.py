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
import errno
import functools
import mmap
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from . import _verify
from ._errors import DatastoreError, DatastoreURLError, MissingRecordError

_TEMP = re.compile(r"\.tmp-[0-9a-f]{12}$")
_ALIGNED_FROM = 1 << 20
MAX_CONNECTIONS = 64
"""Requests in flight at once per S3 client (botocore's default is 10)."""


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


def _make_folders(folder: str) -> list[str]:
    """``os.makedirs(folder)``; return the folders it created, outermost first. One mkdir
    when only the last folder is missing (a new task's folder), the common case."""
    try:
        os.mkdir(folder)
        return [folder]
    except FileExistsError:
        if os.path.isdir(folder):
            return []
        raise
    except FileNotFoundError:
        up = os.path.dirname(folder)
        if up == folder:
            raise
    made = _make_folders(up)
    try:
        os.mkdir(folder)
    except FileExistsError:  # made by another writer meanwhile
        if not os.path.isdir(folder):
            raise
        return made
    return [*made, folder]


def _remove_empty(folders: list[str]) -> None:
    """Remove the folders a failed write created (innermost first), while they are empty."""
    for folder in reversed(folders):
        try:
            os.rmdir(folder)
        except OSError:
            return


class LocalStorage(Storage):
    """A folder on a local (or shared POSIX) file system."""

    keeps_empty_folders = True

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
        made: list[str] = []
        if parent not in self._made:
            made = _make_folders(parent)
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
            _remove_empty(made)  # a failed write (full disk...) leaves no empty folders behind
            raise
        if parent not in self._made:
            with self._lock:
                self._made.add(parent)

    def write_first(self, path: str, data: bytes) -> None:
        """The folder is built aside (under a temporary name that listings skip) and renamed
        into place with its file, so a reader never sees it empty, even if we crash."""
        full = self._abs(path)
        folder = os.path.dirname(full)
        if os.path.isdir(folder) and os.listdir(folder):
            return self.write_atomic(path, data)
        made = _make_folders(os.path.dirname(folder))
        aside = f"{folder}.tmp-{uuid.uuid4().hex[:12]}"
        try:
            os.mkdir(aside)
            with open(os.path.join(aside, os.path.basename(full)), "wb") as f:
                f.write(data)
            os.replace(aside, folder)  # also replaces an empty folder (left by older versions)
        except OSError as exc:
            shutil.rmtree(aside, ignore_errors=True)
            if isinstance(exc, FileExistsError) or exc.errno == errno.ENOTEMPTY:  # written meanwhile
                return self.write_atomic(path, data)
            _remove_empty(made)
            raise
        except BaseException:
            shutil.rmtree(aside, ignore_errors=True)
            raise

    def verify(self) -> None:
        _verify.probe_local(self)

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

    On object stores with a bucket probe (s3), the first request of any kind verifies the
    bucket (bounded in time): some servers create a missing bucket on PUT, which would turn a
    mistyped URL into a new bucket, and a missing bucket must not read as "no runs". Every failure
    of the backend is raised as a one-line DatastoreError (``_verify.translate``), except a
    missing file, which each primitive handles as its contract says.
    """

    def __init__(self, url: str, fs: Any, root: str) -> None:
        self.url = url
        self.fs = fs
        self.root = root.rstrip("/")
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self._probe = _verify.PROBES.get(protocol)
        self._verified = self._probe is None
        self._failure: tuple[DatastoreError, float] | None = None
        self._verify_lock = threading.Lock()

    def _abs(self, path: str) -> str:
        return f"{self.root}/{path}" if self.root else path

    def _ready(self) -> None:
        """Verify before the first request. A failure is the answer for the next
        ``VERIFY_SECONDS`` (concurrent callers get it at once, not one wait each); after
        that the check runs again, so a long-lived process (a worker, the UI) heals when the
        endpoint comes back."""
        if self._verified:
            return
        with self._verify_lock:
            if self._verified:
                return
            failed = self._failure
            if failed is None or time.monotonic() - failed[1] > _verify.VERIFY_SECONDS:
                try:
                    self.verify()
                    self._failure = None
                    return
                except DatastoreError as exc:
                    failed = self._failure = (exc, time.monotonic())
            raise type(failed[0])(str(failed[0])) from None

    def read_bytes(self, path: str) -> bytes:
        self._ready()
        try:
            with _verify.translated(self.url):
                return self.fs.cat_file(self._abs(path))
        except FileNotFoundError:
            raise MissingRecordError(f"{path} not found in datastore {self.url}") from None

    def write_atomic(self, path: str, data: bytes) -> None:
        self._ready()
        with _verify.translated(self.url):
            self.fs.pipe_file(self._abs(path), data)

    def exists(self, path: str) -> bool:
        self._ready()
        with _verify.translated(self.url):
            return bool(self.fs.exists(self._abs(path)))

    def read_many(self, paths: Iterable[str]) -> dict[str, bytes | None]:
        """One ``cat`` of the whole list: concurrent requests on async file systems (s3fs)."""
        wanted = list(dict.fromkeys(paths))
        if len(wanted) < 2:
            return super().read_many(wanted)
        self._ready()
        full = {self.fs._strip_protocol(self._abs(p)): p for p in wanted}
        with _verify.translated(self.url):
            got = self.fs.cat(list(full), on_error="return")
        out: dict[str, bytes | None] = dict.fromkeys(wanted)
        for key, value in got.items():
            if isinstance(value, FileNotFoundError):
                continue
            if isinstance(value, BaseException):
                with _verify.translated(self.url):
                    raise value
            out[full.get(key, key)] = value
        return out

    def write_many(self, files: dict[str, bytes]) -> None:
        """One ``pipe`` of every file: concurrent PUTs on async file systems (s3fs)."""
        if len(files) < 2:
            return super().write_many(files)
        self._ready()
        with _verify.translated(self.url):
            self.fs.pipe({self._abs(p): data for p, data in files.items()})

    def exists_many(self, paths: Iterable[str]) -> dict[str, bool]:
        """Concurrent ``exists`` calls (fsspec has no batched form; its requests overlap when
        issued from several threads onto its event loop)."""
        wanted = list(dict.fromkeys(paths))
        if len(wanted) < 2:
            return super().exists_many(wanted)
        self._ready()
        with ThreadPoolExecutor(max_workers=min(32, len(wanted))) as pool:
            return dict(zip(wanted, pool.map(self.exists, wanted)))

    def stat(self, path: str) -> FileStat | None:
        try:
            info = self.fs.info(self._abs(path))
        except FileNotFoundError:
            return None
        if info.get("type") == "directory":
            return None
        return FileStat(int(info.get("size") or 0), _mtime(info))

    def list_dir(self, path: str) -> list[str]:
        self._ready()
        full = self._abs(path)
        try:
            with _verify.translated(self.url):
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
        self._ready()
        try:
            with _verify.translated(self.url):
                self.fs.rm_file(self._abs(path))
        except FileNotFoundError:
            pass

    def verify(self) -> None:
        probe = self._probe or _verify.probe_generic
        _verify.bounded(lambda: probe(self), self.url)
        self._verified = True
        _no_continue_for_small_puts(self.fs)


SMALL_PUT = 1 << 20
"""PUTs smaller than this send their body at once, without ``Expect: 100-continue``."""


def _no_continue_for_small_puts(fs: Any) -> None:
    """botocore asks the server's leave before sending any PUT body (``Expect: 100-continue``),
    which costs a whole round trip: a small record's PUT then takes two. For small bodies the
    leave is not worth waiting for, so the header is dropped just before sending (it is not
    signed). Only on S3 clients already made; a client made later keeps the default."""
    client = getattr(fs, "_s3", None) or getattr(fs, "s3", None)
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is None:
        return

    def drop_expect(request: Any, **_: Any) -> None:
        body = getattr(request, "body", None)
        size = len(body) if isinstance(body, (bytes, bytearray, memoryview)) else None
        if size is None and hasattr(body, "seek") and hasattr(body, "tell"):
            try:
                here = body.tell()
                size = body.seek(0, os.SEEK_END) - here
                body.seek(here)
            except (OSError, ValueError):
                size = None
        if size is not None and size < SMALL_PUT:
            request.headers.pop("Expect", None)

    events.register("before-send.s3.PutObject", drop_expect, unique_id="rayflow-no-continue")


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
        storage: Storage = LocalStorage(rest if protocol else url)
    else:
        try:
            fs_cls = fsspec.get_filesystem_class(protocol)
        except (ValueError, ImportError) as exc:
            hint = str(exc).splitlines()[0] if str(exc) else ""
            extra = " (pip install 'rayflow[s3]')" if protocol in ("s3", "s3a") else ""
            raise DatastoreURLError(f"datastore {url}: cannot open protocol {protocol!r}: "
                                    f"{hint}{extra}") from None
        options = {**_url_options(fs_cls, url), **_client_options(protocol)}
        fs = _verify.bounded(lambda: _construct(fs_cls, options), url)
        storage = FsspecStorage(url, fs, fs_cls._strip_protocol(url))
    if verify:
        storage.verify()
    return storage


def _construct(fs_cls: Any, options: dict[str, Any]) -> Any:
    with _verify.unraisable_silenced():  # a half-built instance's __del__ may fail as it is freed
        return fs_cls(**options)


def _url_options(fs_cls: Any, url: str) -> dict[str, Any]:
    """What the URL itself says (ftp's host, port and user), as ``fsspec.open`` would pass."""
    try:
        return dict(fs_cls._get_kwargs_from_urls(url))
    except Exception:  # noqa: BLE001 - a URL fsspec cannot parse fails in the constructor
        return {}


def _client_options(protocol: str) -> dict[str, Any]:
    """Options that make object stores behave like the local backend (no stale listings)."""
    if protocol in ("s3", "s3a"):
        # A fresh client: s3fs caches clients by arguments, not by the credentials in the
        # environment, so a cached client would ignore changed (or fixed) credentials.
        opts: dict[str, Any] = {"use_listings_cache": False, "skip_instance_cache": True,
                                # one GET per read: above 1, s3fs asks each file's size first
                                # (a HEAD), which doubles the latency of every record read
                                "max_concurrency": 1,
                                # batched reads and writes overlap up to this many requests
                                "config_kwargs": {"max_pool_connections": MAX_CONNECTIONS}}
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3")
        if endpoint:
            opts["endpoint_url"] = endpoint
        return opts
    return {}
