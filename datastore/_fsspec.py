"""Every other fsspec backend (s3://, gs://, memory://...), opened through fsspec's registry.

One ``pipe_file`` is one PUT (atomic on object stores); batched calls use fsspec's concurrent
``cat``/``pipe``. Failures are translated to one-line datastore errors (``_verify``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import _verify
from ._errors import DatastoreError, MissingRecordError
from ._storage import FileStat, Storage

MAX_CONNECTIONS = 64
"""Requests in flight at once per S3 client (botocore's default is 10)."""


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


def open_fsspec(url: str, protocol: str, fs_cls: Any) -> FsspecStorage:
    """The storage of ``url`` on ``fs_cls`` (fsspec's class for ``protocol``), built within a
    bounded time (some backends connect in their constructor)."""
    options = {**_url_options(fs_cls, url), **_client_options(protocol)}
    fs = _verify.bounded(lambda: _construct(fs_cls, options), url)
    return FsspecStorage(url, fs, fs_cls._strip_protocol(url))


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
        opts: dict[str, Any] = {
            "use_listings_cache": False,
            "skip_instance_cache": True,
            # one GET per read: above 1, s3fs asks each file's size first
            # (a HEAD), which doubles the latency of every record read
            "max_concurrency": 1,
            # batched reads and writes overlap up to this many requests
            "config_kwargs": {"max_pool_connections": MAX_CONNECTIONS},
        }
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3")
        if endpoint:
            opts["endpoint_url"] = endpoint
        return opts
    return {}
