"""What a Ray worker keeps between the tasks it runs: the run's context and flow class (fetched
and unpickled once per run, not once per task) and one storage client per datastore URL; and the
few questions a task asks of the Ray worker it runs in (its node, whether Ray cancelled it).
Outside Ray (a task body run in the test's process) those answers are empty, not errors.
"""

from __future__ import annotations

import sys
from collections import OrderedDict

import cloudpickle

from rayflow.datastore import Storage, open_storage

_RUNS: OrderedDict[str, tuple[dict, type]] = OrderedDict()
_STORES: dict[str, Storage] = {}


def _storage(url: str) -> Storage:
    store = _STORES.get(url)
    if store is None:
        store = _STORES[url] = open_storage(url)
    return store


def _run_context(box: list) -> tuple[dict, type]:
    """Fetch and unpickle the run's context and flow class once per worker, not once per task."""
    run_key, ctx_ref, class_ref = box
    hit = _RUNS.get(run_key)
    if hit is not None:
        return hit
    import ray

    from ._codefiles import forget_local_modules, restore

    ctx = ray.get(ctx_ref)
    if ctx.get("flow_dir"):
        if ctx["flow_dir"] not in sys.path:
            sys.path.insert(0, ctx["flow_dir"])
        forget_local_modules(ctx["flow_dir"])  # a new run: its local modules as they are now
    flow_cls = cloudpickle.loads(ray.get(class_ref))

    restore(flow_cls, ctx.get("code_files") or {})
    _RUNS[run_key] = (ctx, flow_cls)
    while len(_RUNS) > 16:
        _RUNS.popitem(last=False)
    return ctx, flow_cls


def _node_id() -> str:
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return ""  # outside Ray (a task body run in the caller's process): asking would start Ray
    try:
        return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - outside a worker
        return ""


def _cancelled() -> bool:
    """Whether Ray cancelled this task (its KeyboardInterrupt is then not the user's)."""
    try:
        import ray

        return bool(ray.get_runtime_context().is_canceled())
    except Exception:  # noqa: BLE001 - outside Ray
        return False
