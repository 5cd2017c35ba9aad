"""The code shipped to a cluster's nodes: the flow's folder as Ray's ``working_dir``.

Ray zips the folder (following symlinks, honouring ``.gitignore`` and ``.rayignore`` in every
folder, and the ``excludes`` given here) into its session folder, then uploads it. So a folder
that holds Ray's own temp dir makes Ray zip its growing package into itself, and a folder that
holds data makes every run upload it. Before joining, the folder is walked as Ray will walk it:

- never shipped: version control, virtualenvs, caches, the datastore (``.rayflow/`` or a local
  ``--datastore`` inside the folder), Ray's temp dir (``RAY_TMPDIR``, the default one, and any
  folder holding Ray sessions), and files over 10 MiB (named in a note);
- refused, in one line naming the biggest parts: more than ``RAYFLOW_MAX_SHIP_MB`` (100 MiB by
  default) or 20,000 files still to ship;
- said in one line (on stdout) before joining: what is shipped and its size.

The S3 endpoint and region (never credentials) go with the job as environment variables.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any

from rayflow.datastore import settings

from ._errors import ClusterError

MiB = 1024 * 1024
LARGE_FILE = 10 * MiB  # Ray warns above this per file; such files are left out
DEFAULT_MAX_SHIP_MB = 100  # beyond this the folder is not "the flow's code" any more
MAX_FILES = 20_000
SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".rayflow",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".ipynb_checkpoints",
    "node_modules",
    ".tox",
    ".nox",
    ".eggs",
}  # and any folder holding a pyvenv.cfg (a virtualenv under another name)
# Non-secret settings the workers need to reach the same object store as the driver.
FORWARDED_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION")
_SESSION = re.compile(r"^session_(latest|\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_\d+_\d+)$")


def cluster_runtime_env(
    cluster: str | None,
    flow_file: str | None,
    storage: Any,
    base: dict[str, Any] | None = None,
) -> tuple[dict[str, Any] | None, str | None, list[str]]:
    """``(runtime_env, shipped, notes)`` for joining ``cluster``: the flow's folder and the S3
    endpoint go with the job. Nothing is built without a cluster, or when this process has
    joined Ray already (a sweep joins once for all its runs): Ray would ignore it then."""
    import sys

    from rayflow.datastore import LocalStorage

    from ._connect import resolve_address

    ray = sys.modules.get("ray")
    if not resolve_address(cluster) or (ray is not None and ray.is_initialized()):
        return base, None, []
    local = isinstance(storage, LocalStorage)
    return build_runtime_env(flow_file, storage.url if local else None, base)


def build_runtime_env(
    flow_file: str | None,
    datastore: str | None = None,
    base: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], str | None, list[str]]:
    """Return ``(runtime_env, shipped, notes)`` for running ``flow_file``'s flow on a cluster.

    ``base`` (a caller's own runtime_env) wins over what is built here. ``shipped`` says in
    one line what is shipped and its size (None without a flow file); ``notes`` names the
    large files left out. Raises ClusterError when the folder is too big.
    """
    env: dict[str, Any] = {}
    notes: list[str] = []
    shipped = None
    if flow_file:
        folder = os.path.dirname(os.path.abspath(flow_file))
        found = scan(folder, datastore)
        env["working_dir"] = folder
        env["excludes"] = found.excludes
        shipped = found.summary()
        if found.skipped:
            names = ", ".join(f"{rel} ({size / MiB:.0f} MiB)" for rel, size in found.skipped[:3])
            more = f" and {len(found.skipped) - 3} more" if len(found.skipped) > 3 else ""
            notes.append(
                f"not shipped to the cluster (files over {LARGE_FILE // MiB} MiB): "
                f"{names}{more}; read such data from the datastore or object storage"
            )
    env_vars = {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)}
    if env_vars:
        env["env_vars"] = env_vars
    if base:
        merged_vars = {**env.get("env_vars", {}), **(base.get("env_vars") or {})}
        env = {**env, **base}
        if merged_vars:
            env["env_vars"] = merged_vars
    return env, shipped, notes


def max_ship_bytes() -> int:
    """The size limit: ``RAYFLOW_MAX_SHIP_MB`` (MiB) or 100 MiB."""
    text = settings.max_ship_mb()
    if not text:
        return DEFAULT_MAX_SHIP_MB * MiB
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ClusterError(f"{settings.MAX_SHIP_MB}={text!r}: expected a positive number of MiB")
    return int(value * MiB)


@dataclass
class Shipment:
    """What Ray will zip from ``folder``: the excludes that keep the rest out, and its size."""

    folder: str
    excludes: list[str]
    files: int = 0
    total: int = 0
    skipped: list[tuple[str, int]] = field(default_factory=list)  # large files left out
    left_out: list[str] = field(default_factory=list)  # folders worth naming (temp dir, data)
    parts: dict[str, int] = field(default_factory=dict)  # size per top-level entry

    def summary(self) -> str:
        out = ""
        if self.left_out:
            more = f" and {len(self.left_out) - 4} more" if len(self.left_out) > 4 else ""
            out = f" (left out: {', '.join(self.left_out[:4])}{more})"
        return (
            f"shipping {self.folder} to the cluster: {self.files} file(s), {_size(self.total)}{out}"
        )


def scan(folder: str, datastore: str | None = None) -> Shipment:
    """Walk ``folder`` as Ray will zip it; raise ClusterError when too much would be shipped."""
    limit = max_ship_bytes()
    found = Shipment(folder, sorted(f"{name}/" for name in SKIP_DIRS))
    never = _never_shipped(folder, datastore)
    ignores = _IgnoreFiles(folder)
    for rel, why in sorted(never.items()):
        if os.path.lexists(os.path.join(folder, rel)):
            found.left_out.append(f"{rel}/ ({why})")
        found.excludes.append(f"/{_escape(rel)}")
    for root, dirs, names in os.walk(folder, followlinks=True):
        rel_root = os.path.relpath(root, folder)
        rel_root = "" if rel_root == "." else rel_root.replace(os.sep, "/")
        if rel_root and _is_ray_temp_dir(dirs):
            found.left_out.append(f"{rel_root}/ (Ray's temp dir)")
            found.excludes.append(f"/{_escape(rel_root)}")
            dirs[:] = []
            continue
        ignores.read(root, names)
        dirs[:] = [d for d in dirs if _ships_dir(found, ignores, root, _rel(rel_root, d), never)]
        for name in names:
            rel = _rel(rel_root, name)
            if ignores.ignored(os.path.join(root, name)):
                continue
            try:
                size = os.stat(os.path.join(root, name)).st_size  # follows links, as Ray does
            except OSError:
                continue  # a broken link: Ray skips it too
            if size > LARGE_FILE:
                found.skipped.append((rel, size))
                found.excludes.append("/" + _escape(rel))
                continue
            found.files += 1
            found.total += size
            top = rel.split("/", 1)[0]
            found.parts[top] = found.parts.get(top, 0) + size
            if found.files > 5 * MAX_FILES or found.total > 10 * limit:
                raise ClusterError(_too_big(found, limit))  # enough seen to name the biggest
    if found.files > MAX_FILES or found.total > limit:
        raise ClusterError(_too_big(found, limit))
    found.skipped.sort(key=lambda item: -item[1])
    return found


def _ships_dir(
    found: Shipment, ignores: _IgnoreFiles, root: str, rel: str, never: dict[str, str]
) -> bool:
    """Whether the walk (and Ray) goes into the folder ``rel``; records why not."""
    full = os.path.join(root, os.path.basename(rel))
    if os.path.basename(rel) in SKIP_DIRS or rel in never or ignores.ignored(full):
        return False
    if os.path.exists(os.path.join(full, "pyvenv.cfg")):
        found.excludes.append(f"/{_escape(rel)}/")
        return False
    if os.path.islink(full):
        real, here = os.path.realpath(full), os.path.realpath(root)
        if real == here or _inside(real, here):
            found.excludes.append(f"/{_escape(rel)}")  # a link back up: Ray would loop forever
            return False
    return True


def _never_shipped(folder: str, datastore: str | None) -> dict[str, str]:
    """Folders inside ``folder`` that must never ship, by relative path: the local datastore
    and Ray's temp dirs (given by RAY_TMPDIR or the defaults, whether they exist yet or not)."""
    never: dict[str, str] = {}
    if datastore and ("://" not in datastore or datastore.startswith("file://")):
        rel = _inside(folder, os.path.abspath(datastore.removeprefix("file://")))
        if rel:
            never[rel] = "the datastore"
    temp_dirs = {
        os.environ.get("RAY_TMPDIR") or "",
        os.path.join(tempfile.gettempdir(), "ray"),
        "/tmp/ray",
    }
    for path in filter(None, temp_dirs):
        rel = _inside(folder, os.path.abspath(path))
        if rel:
            never.setdefault(rel, "Ray's temp dir")
    return never


def _is_ray_temp_dir(dirs: list[str]) -> bool:
    """A folder holding Ray sessions (``session_latest``, ``session_2026-...``) is a Ray temp
    dir, whoever started that Ray (``ray start --temp-dir``, RAY_TMPDIR on another shell)."""
    return any(_SESSION.match(d) for d in dirs)


class _IgnoreFiles:
    """``.rayignore`` (and ``.gitignore`` unless RAY_RUNTIME_ENV_IGNORE_GITIGNORE=1) of every
    folder, matched with Ray's own pattern rules against paths relative to their folder."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.specs: dict[str, Any] = {}
        names = [".rayignore"]
        if os.environ.get("RAY_RUNTIME_ENV_IGNORE_GITIGNORE", "0") != "1":
            names.insert(0, ".gitignore")
        self.names = names

    def read(self, root: str, files: list[str]) -> None:
        for name in self.names:
            if name not in files:
                continue
            try:
                from ._ray_private import gitignore_matcher

                with open(os.path.join(root, name)) as f:
                    spec = gitignore_matcher(f.readlines())
            except (OSError, ValueError):
                continue
            if spec is not None:
                self.specs.setdefault(root, []).append(spec)

    def ignored(self, path: str) -> bool:
        if not self.specs:
            return False
        probe = os.path.dirname(path)
        while True:
            for spec in self.specs.get(probe, ()):
                if spec.match_file(os.path.relpath(path, probe)):
                    return True
            if probe == self.folder or len(probe) <= len(self.folder):
                return False
            probe = os.path.dirname(probe)


def _too_big(found: Shipment, limit: int) -> str:
    biggest = sorted(found.parts.items(), key=lambda item: -item[1])[:3]
    biggest = [(name, size) for name, size in biggest if size >= found.total / 100] or biggest
    parts = ", ".join(
        f"{name} {size / MiB:.0f} MiB" if size >= MiB else f"{name} {_size(size)}"
        for name, size in biggest
    )
    what = (
        f"more than {MAX_FILES} files" if found.files > MAX_FILES else f"over {limit / MiB:g} MiB"
    )
    return (
        f"the flow's folder {found.folder} is too big to ship to the cluster ({what}; "
        f"largest: {parts}); move the flow file into a folder holding only its code, add "
        f"the data to a .rayignore file, or raise RAYFLOW_MAX_SHIP_MB"
    )


def _size(n: int) -> str:
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} bytes"


def _rel(rel_root: str, name: str) -> str:
    return name if not rel_root else f"{rel_root}/{name}"


def _inside(folder: str, path: str) -> str | None:
    """``path`` relative to ``folder`` when strictly inside it, else None."""
    try:
        rel = os.path.relpath(path, folder)
    except ValueError:
        return None
    return None if rel == "." or rel.startswith("..") else rel.replace(os.sep, "/")


def _escape(rel: str) -> str:
    """A path as a literal gitwildmatch pattern."""
    return "".join(f"\\{c}" if c in "*?[]!#\\ " else c for c in rel)
