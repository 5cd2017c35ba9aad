"""The local backend: a folder on a local (or shared POSIX) file system.

Writes go to a temporary sibling (``<name>.tmp-<12 hex>``) renamed into place, so a reader never
sees half a file; listings leave such temporaries out (``rayflow gc`` removes stale ones).
"""

from __future__ import annotations

import errno
import functools
import mmap
import os
import re
import shutil
import threading
import uuid
from typing import Any

from . import _verify
from ._errors import MissingRecordError
from ._storage import ALIGNED_FROM, FileStat, Storage, new_buffer

_TEMP = re.compile(r"\.tmp-[0-9a-f]{12}$")


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
                if size >= ALIGNED_FROM and _many_files_allowed():
                    return mmap.mmap(
                        f.fileno(),
                        size,
                        flags=mmap.MAP_PRIVATE,
                        prot=mmap.PROT_READ | mmap.PROT_WRITE,
                    )
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
            if (
                isinstance(exc, FileExistsError) or exc.errno == errno.ENOTEMPTY
            ):  # written meanwhile
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
