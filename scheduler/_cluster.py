"""What a run needs from a Ray cluster, prepared and checked before the first task is submitted.

- ``build_runtime_env`` (in ``_shipping``): the flow's folder shipped as Ray's ``working_dir``
  (so the flow file's imports from the same folder work on every node), without the datastore,
  Ray's temp dir, VCS and virtualenv folders or large files, within a size limit; the S3
  endpoint and region (never credentials) passed to the workers.
- ``check_resources``: every step's ``@resources`` must fit on at least one alive node, else the
  run would wait forever; the error names the step and the request.
- ``check_datastore``: a local-folder datastore with a multi-node cluster is refused, since the
  other nodes cannot see it, unless the caller says the path is shared.

The checks read ``ray.nodes()`` once; they are plain functions of that list so the rules stay
readable and testable.
"""

from __future__ import annotations

from typing import Any

from rayflow.datastore import settings

from . import decorators
from ._errors import ClusterError
from ._shipping import MiB, build_runtime_env, cluster_runtime_env

__all__ = [
    "MiB",
    "alive_nodes",
    "build_runtime_env",
    "check_cluster",
    "check_datastore",
    "check_resources",
    "cluster_runtime_env",
]


# -- checks against the cluster's nodes ----------------------------------------------------


def alive_nodes() -> list[dict[str, Any]]:
    import ray

    return [n for n in ray.nodes() if n.get("Alive")]


def _request(node: dict[str, Any]) -> dict[str, float]:
    """The Ray resources a step's tasks ask for (its decorators' Ray options, as submitted)."""
    opts = decorators.ray_options(node)
    want = {"CPU": float(opts.get("num_cpus", 1)), "GPU": float(opts.get("num_gpus", 0))}
    if opts.get("memory"):
        want["memory"] = float(opts["memory"])
    return want


def _describe(want: dict[str, float]) -> str:
    parts = [f"cpu={want['CPU']:g}"]
    if want.get("GPU"):
        parts.append(f"gpu={want['GPU']:g}")
    if want.get("memory"):
        parts.append(f"memory={want['memory'] / MiB:g}")
    return f"@resources({', '.join(parts)})"


def _node_text(res: dict[str, float]) -> str:
    return (
        f"{res.get('CPU', 0):g} CPU, {res.get('GPU', 0):g} GPU, "
        f"{res.get('memory', 0) / (1024 * MiB):.1f} GiB memory"
    )


def check_resources(plan: dict[str, dict[str, Any]], nodes: list[dict[str, Any]]) -> None:
    """Raise ClusterError for the first step whose request no alive node can satisfy."""
    if settings.allow_infeasible():
        return
    totals = [n.get("Resources") or {} for n in nodes]
    if not totals:
        return
    for step, node in plan.items():
        want = _request(node)
        if any(all(res.get(k, 0.0) >= v for k, v in want.items() if v) for res in totals):
            continue
        largest = max(totals, key=lambda r: (r.get("CPU", 0), r.get("GPU", 0), r.get("memory", 0)))
        where = (
            "the node has"
            if len(totals) == 1
            else f"none of the {len(totals)} nodes has it; largest:"
        )
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


def check_cluster(plan: dict[str, dict[str, Any]], url: str, is_local: bool, shared: bool) -> None:
    """Both checks against the connected cluster's alive nodes."""
    nodes = alive_nodes()
    check_datastore(url, is_local, nodes, shared)
    check_resources(plan, nodes)
