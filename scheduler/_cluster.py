"""What a run needs from a Ray cluster, prepared and checked before the first task is submitted.

- ``build_runtime_env``: the flow's folder shipped as Ray's ``working_dir`` (so the flow file's
  imports from the same folder work on every node), without the datastore, VCS and virtualenv
  folders or large files; the S3 endpoint and region (never credentials) passed to the workers.
- ``check_resources``: every step's ``@resources`` must fit on at least one alive node, else the
  run would wait forever; the error names the step and the request.
- ``check_datastore``: a local-folder datastore with a multi-node cluster is refused, since the
  other nodes cannot see it, unless the caller says the path is shared.

The checks read ``ray.nodes()`` once; they are plain functions of that list so the rules stay
readable and testable.
"""

from __future__ import annotations

import os
from typing import Any

from ._errors import ClusterError

MiB = 1024 * 1024
LARGE_FILE = 10 * MiB  # Ray warns above this per file; such files are left out
MAX_CODE = 100 * MiB  # beyond this the folder is not "the flow's code" any more
MAX_FILES = 20_000
SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", ".rayflow", "__pycache__", ".mypy_cache",
             ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", "node_modules", ".tox", ".nox",
             ".eggs"}  # and any folder holding a pyvenv.cfg (a virtualenv under another name)
# Non-secret settings the workers need to reach the same object store as the driver.
FORWARDED_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION")


# -- the code shipped to the nodes ---------------------------------------------------------


def cluster_runtime_env(cluster: str | None, flow_file: str | None, storage: Any,
                        base: dict[str, Any] | None = None) -> tuple[dict[str, Any] | None, list[str]]:
    """``(runtime_env, notes)`` for joining ``cluster``: the flow's folder and the S3 endpoint
    go with the job. Nothing is built without a cluster, or when this process has joined Ray
    already (a sweep joins once for all its runs): Ray would ignore it then."""
    import sys

    from rayflow.datastore import LocalStorage

    from ._connect import resolve_address

    ray = sys.modules.get("ray")
    if not resolve_address(cluster) or (ray is not None and ray.is_initialized()):
        return base, []
    local = isinstance(storage, LocalStorage)
    return build_runtime_env(flow_file, storage.url if local else None, base)


def build_runtime_env(flow_file: str | None, datastore: str | None = None,
                      base: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """Return ``(runtime_env, notes)`` for running ``flow_file``'s flow on a cluster.

    ``base`` (a caller's own runtime_env) wins over what is built here. ``notes`` lists what
    was left out, for the user to read. Raises ClusterError when the folder is too big.
    """
    env: dict[str, Any] = {}
    notes: list[str] = []
    if flow_file:
        folder = os.path.dirname(os.path.abspath(flow_file))
        excludes, skipped = _scan(folder, datastore)
        env["working_dir"] = folder
        if excludes:
            env["excludes"] = excludes
        if skipped:
            names = ", ".join(f"{rel} ({size / MiB:.0f} MiB)" for rel, size in skipped[:3])
            more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
            notes.append(f"not shipped to the cluster (files over {LARGE_FILE // MiB} MiB): "
                         f"{names}{more}; read such data from the datastore or object storage")
    env_vars = {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)}
    if env_vars:
        env["env_vars"] = env_vars
    if base:
        merged_vars = {**env.get("env_vars", {}), **(base.get("env_vars") or {})}
        env = {**env, **base}
        if merged_vars:
            env["env_vars"] = merged_vars
    return env, notes


def _scan(folder: str, datastore: str | None) -> tuple[list[str], list[tuple[str, int]]]:
    """Walk ``folder`` as Ray will zip it; return (exclude patterns, large files left out)."""
    excludes = sorted(f"{name}/" for name in SKIP_DIRS)
    inside = _local_datastore_inside(folder, datastore)
    if inside:
        excludes.append(f"/{inside}/")
    skipped: list[tuple[str, int]] = []
    sizes: dict[str, int] = {}
    total = files = 0
    for root, dirs, names in os.walk(folder):
        rel_root = os.path.relpath(root, folder)
        keep = []
        for d in dirs:
            full = os.path.join(root, d)
            if d in SKIP_DIRS or _rel(rel_root, d) == inside or os.path.islink(full):
                continue
            if os.path.exists(os.path.join(full, "pyvenv.cfg")):
                excludes.append(f"/{_escape(_rel(rel_root, d))}/")
                continue
            keep.append(d)
        dirs[:] = keep
        for name in names:
            path = os.path.join(root, name)
            try:
                size = os.lstat(path).st_size
            except OSError:
                continue
            rel = _rel(rel_root, name)
            if size > LARGE_FILE:
                skipped.append((rel, size))
                excludes.append("/" + _escape(rel))
                continue
            files += 1
            total += size
            top = rel.split("/", 1)[0]
            sizes[top] = sizes.get(top, 0) + size
            if files > MAX_FILES or total > MAX_CODE:
                raise ClusterError(_too_big(folder, files, total, sizes))
    skipped.sort(key=lambda item: -item[1])
    return excludes, skipped


def _too_big(folder: str, files: int, total: int, sizes: dict[str, int]) -> str:
    biggest = sorted(sizes.items(), key=lambda item: -item[1])[:3]
    parts = ", ".join(f"{name} {size / MiB:.0f} MiB" for name, size in biggest)
    what = f"more than {MAX_FILES} files" if files > MAX_FILES else f"over {MAX_CODE // MiB} MiB"
    return (f"the flow's folder {folder} is too big to ship to the cluster ({what}; largest: "
            f"{parts}); move the flow file into a folder holding only its code, or add the "
            f"data to a .rayignore file")


def _rel(rel_root: str, name: str) -> str:
    return name if rel_root == "." else f"{rel_root}/{name}".replace(os.sep, "/")


def _escape(rel: str) -> str:
    """A path as a literal gitwildmatch pattern."""
    return "".join(f"\\{c}" if c in "*?[]!#\\ " else c for c in rel)


def _local_datastore_inside(folder: str, datastore: str | None) -> str | None:
    if not datastore or ("://" in datastore and not datastore.startswith("file://")):
        return None
    path = os.path.abspath(datastore.removeprefix("file://"))
    try:
        rel = os.path.relpath(path, folder)
    except ValueError:
        return None
    return None if rel == "." or rel.startswith("..") else rel.replace(os.sep, "/")


# -- checks against the cluster's nodes ----------------------------------------------------


def alive_nodes() -> list[dict[str, Any]]:
    import ray

    return [n for n in ray.nodes() if n.get("Alive")]


def _request(resources: dict[str, Any]) -> dict[str, float]:
    """The Ray resources a step's @resources asks for (as the executor maps them)."""
    want = {"CPU": float(resources.get("cpu") or 1), "GPU": float(resources.get("gpu") or 0)}
    if resources.get("memory"):
        want["memory"] = float(resources["memory"]) * MiB
    return want


def _describe(want: dict[str, float]) -> str:
    parts = [f"cpu={want['CPU']:g}"]
    if want.get("GPU"):
        parts.append(f"gpu={want['GPU']:g}")
    if want.get("memory"):
        parts.append(f"memory={want['memory'] / MiB:g}")
    return f"@resources({', '.join(parts)})"


def _node_text(res: dict[str, float]) -> str:
    return (f"{res.get('CPU', 0):g} CPU, {res.get('GPU', 0):g} GPU, "
            f"{res.get('memory', 0) / (1024 * MiB):.1f} GiB memory")


def check_resources(plan: dict[str, dict[str, Any]], nodes: list[dict[str, Any]]) -> None:
    """Raise ClusterError for the first step whose request no alive node can satisfy."""
    if os.environ.get("RAYFLOW_ALLOW_INFEASIBLE"):
        return
    totals = [n.get("Resources") or {} for n in nodes]
    if not totals:
        return
    for step, node in plan.items():
        want = _request(node["decorators"].get("resources") or {})
        if any(all(res.get(k, 0.0) >= v for k, v in want.items() if v) for res in totals):
            continue
        largest = max(totals, key=lambda r: (r.get("CPU", 0), r.get("GPU", 0), r.get("memory", 0)))
        where = "the node has" if len(totals) == 1 else f"none of the {len(totals)} nodes has it; largest:"
        raise ClusterError(
            f"step '{step}' asks for {_describe(want)} but {where} {_node_text(largest)}; "
            f"lower the request or add a bigger node (RAYFLOW_ALLOW_INFEASIBLE=1 if an "
            f"autoscaler will add one)"
        )


def check_datastore(url: str, is_local: bool, nodes: list[dict[str, Any]], shared: bool) -> None:
    """Refuse a local-folder datastore on a multi-node cluster unless it is declared shared."""
    if not is_local or shared or len(nodes) < 2:
        return
    raise ClusterError(
        f"the datastore {url} is a local folder, but the cluster has {len(nodes)} nodes that "
        f"cannot all see it; use --datastore s3://bucket/prefix (or --shared-datastore if every "
        f"node mounts {url})"
    )


def check_cluster(plan: dict[str, dict[str, Any]], url: str, is_local: bool,
                  shared: bool) -> None:
    """Both checks against the connected cluster's alive nodes."""
    nodes = alive_nodes()
    check_datastore(url, is_local, nodes, shared)
    check_resources(plan, nodes)
