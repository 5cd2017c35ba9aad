"""Why a datastore cannot be used, in one line: bounded probes, and backend errors translated.

Object-store clients (s3fs over botocore and aiohttp) retry for seconds and then raise their own
exception types with tracebacks of a hundred lines; a local folder fails with a bare OSError.
A user needs the cause and the datastore it concerns: no credentials, an endpoint that does not
answer, a missing bucket, a full or read-only disk. Everything here turns a failure into a
``DatastoreError`` whose message says that, and keeps a hung endpoint from hanging the caller.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import sys
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from ._errors import (
    DatastoreAccessDenied,
    DatastoreBucketMissing,
    DatastoreError,
    DatastoreNotWritable,
    DatastoreUnavailable,
    DatastoreURLError,
)

VERIFY_SECONDS = 10.0
"""How long a probe (or a file system's constructor) may take before the endpoint is called
unreachable. s3fs gives up on a refused connection after ~8 s of botocore retries."""


def bounded(call: Callable[[], Any], url: str) -> Any:
    """``call()`` in a daemon thread, its result or its error translated for ``url``.

    A hung endpoint must not hang the caller: after ``VERIFY_SECONDS`` the caller gets a
    DatastoreUnavailable and the thread is left to the process's exit.
    """
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append((False, exc))

    worker = threading.Thread(target=target, name="rayflow-datastore-verify", daemon=True)
    worker.start()
    worker.join(VERIFY_SECONDS)
    if not outcome:
        raise DatastoreUnavailable(
            f"datastore {url}: no answer within {VERIFY_SECONDS:.0f} s "
            f"from the endpoint{at_endpoint()} (is it reachable?)"
        )
    ok, value = outcome.pop()
    if ok:
        return value
    error = translate(value, url)
    if error is value and isinstance(value, DatastoreError):
        error = value.with_traceback(None)
    elif error is value:
        error = DatastoreURLError(f"datastore {url}: {reason(value)}")
    with unraisable_silenced():
        value.__traceback__ = None  # frees a half-built file system (its __del__ may fail)
        del value
        gc.collect()
    raise error from None


def translate(exc: BaseException, url: str) -> BaseException:
    """The one-line DatastoreError for a backend's failure; ``exc`` itself when it already is
    one, is a missing file (callers turn that into "not found"), or is not an Exception."""
    if isinstance(exc, (DatastoreError, FileNotFoundError)) or not isinstance(exc, Exception):
        return exc
    if isinstance(exc, PermissionError) or _no_credentials(exc):
        return DatastoreAccessDenied(f"datastore {url}: {reason(exc)}")
    return DatastoreUnavailable(f"datastore {url}: {reason(exc)}")


@contextlib.contextmanager
def translated(url: str) -> Iterator[None]:
    """Raise the backend's failures inside the block as ``translate`` says."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - each kind is sorted by translate
        error = translate(exc, url)
        if error is exc:
            raise
        raise error from None


def _no_credentials(exc: BaseException) -> bool:
    return "NoCredentials" in type(exc).__name__ or "Unable to locate credentials" in str(exc)


def endpoint() -> str | None:
    """The custom S3 endpoint set in the environment (a URL, never a secret), if any."""
    return os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3") or None


def at_endpoint() -> str:
    """`` at <endpoint>`` when a custom S3 endpoint is set."""
    url = endpoint()
    return f" at {url}" if url else ""


def _refused(url: str) -> str | None:
    """Why nothing listens at ``url`` (refused, unknown host), from one TCP connect; None when
    something does, or when the connect alone cannot tell. botocore retries a refused
    connection for ~7 s before it says so; this says it at once."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname, port), timeout=VERIFY_SECONDS / 2):
            return None
    except ConnectionRefusedError:
        return "connection refused"
    except socket.gaierror:
        return f"unknown host {parts.hostname!r}"
    except (OSError, ValueError):
        return None


def reason(exc: BaseException) -> str:
    """The cause of ``exc`` in a few words, with the first line of its own message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    name = type(exc).__name__
    if _no_credentials(exc):
        return (
            "no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
        )
    if isinstance(exc, PermissionError):
        return f"access denied ({text})"
    if "EndpointConnection" in name or "ConnectTimeout" in name or isinstance(exc, ConnectionError):
        return f"cannot reach the endpoint{at_endpoint()} ({text})"
    if isinstance(exc, TimeoutError) or "Timeout" in name:
        return f"no answer from the endpoint{at_endpoint()} ({text})"
    if isinstance(exc, OSError) and exc.errno and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return f"{name}: {text}"


@contextlib.contextmanager
def unraisable_silenced() -> Iterator[None]:
    """Swallow "Exception ignored in __del__" reports: a file system whose constructor failed
    (fsspec's FTP without a host) fails again in its ``__del__`` when it is freed."""
    previous = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        yield
    finally:
        sys.unraisablehook = previous


# -- probes: one request that says whether the datastore can be used ------------------------


def probe_s3(storage: Any) -> None:
    """HEAD the bucket: 404 is a missing bucket, 403 rejected credentials (values not shown)."""
    bucket = storage.root.split("/", 1)[0]
    if not bucket:
        raise DatastoreURLError(
            f"datastore {storage.url}: no bucket in the URL (expected s3://bucket/prefix)"
        )
    custom = endpoint()
    refused = _refused(custom) if custom else None
    if refused:
        raise DatastoreUnavailable(
            f"datastore {storage.url}: cannot reach the endpoint at {custom} ({refused})"
        )
    try:
        storage.fs.call_s3("head_bucket", Bucket=bucket)
    except FileNotFoundError:
        raise DatastoreBucketMissing(
            f"datastore {storage.url}: bucket '{bucket}' does not exist"
            f"{at_endpoint()} (create it first)"
        ) from None
    except PermissionError:
        raise DatastoreAccessDenied(
            f"datastore {storage.url}: access to bucket '{bucket}' denied: the credentials were "
            f"rejected or lack permission (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
            f"AWS_PROFILE)"
        ) from None


def probe_generic(storage: Any) -> None:
    """Any other fsspec backend: listing the root's parent must not fail for access reasons."""
    parent = storage.root.rsplit("/", 1)[0] if "/" in storage.root else storage.root
    try:
        storage.fs.exists(parent or storage.root)
    except FileNotFoundError:
        pass


def probe_local(storage: Any) -> None:
    """Write and remove a small file in the root (made if missing): a full disk, a read-only
    file system or a folder without write access fails here, before the run records anything.
    The file's name is a temporary file's, so listings never show it."""
    name = f".rayflow-probe.tmp-{uuid.uuid4().hex[:12]}"
    try:
        storage.write_atomic(name, b"rayflow checks that this datastore can be written\n")
        storage.delete(name)
    except OSError as exc:
        raise DatastoreNotWritable(
            f"datastore {storage.url} cannot be written: {reason(exc)}"
        ) from None


PROBES = {"s3": probe_s3, "s3a": probe_s3}
