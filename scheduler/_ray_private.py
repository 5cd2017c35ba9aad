"""Every use of Ray's private modules (``ray._private``, ``ray.core.generated``), in one place.

rayflow uses Ray's public API everywhere else. These few things have no public equivalent in
Ray 2.60, and a minor Ray release may move them; so they live here, each behind a function that
says what rayflow needs, and ``REQUIRED`` names every attribute they rely on:
tests/scheduler/test_ray_private.py fails loudly, naming the Ray version, when one is gone. Each
use degrades to "feature off" at run time (never a crash of a run) when Ray moved it.

- the address ``ray start`` recorded on this machine (``--cluster auto``);
- one authenticated RPC to a GCS or a Ray Client server before ``ray.init`` (a refused token
  is reported at once instead of after 20-30 s of retries);
- the node's session folder (where workers leave their fault files for the driver);
- the driver's printer of Ray's error channel (to keep the raylet's paragraph about a dead
  worker off the console: rayflow says it in one line);
- Ray's own ``.gitignore`` matcher, so a shipped folder leaves out what Ray would.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

REQUIRED: dict[str, tuple[str, str]] = {
    # what for -> (module, attribute)
    "--cluster auto": ("ray._private.services", "canonicalize_bootstrap_address"),
    "token preflight (channel)": ("ray._private.grpc_utils", "init_grpc_channel"),
    "token preflight (GCS request)": ("ray.core.generated.gcs_service_pb2", "GetClusterIdRequest"),
    "token preflight (GCS stub)": (
        "ray.core.generated.gcs_service_pb2_grpc",
        "NodeInfoGcsServiceStub",
    ),
    "token preflight (client request)": ("ray.core.generated.ray_client_pb2", "ClusterInfoRequest"),
    "token preflight (client stub)": ("ray.core.generated.ray_client_pb2_grpc", "RayletDriverStub"),
    "fault files (session folder)": ("ray._private.worker", "global_worker"),
    "quiet worker deaths": ("ray._private.worker", "print_to_stdstream"),
    "shipping ignore rules": ("ray._private.thirdparty.pathspec", "PathSpec"),
}


def missing() -> list[str]:
    """``module.attribute (what for)`` of each thing this Ray lacks."""
    gone = []
    for purpose, (module, attribute) in REQUIRED.items():
        try:
            found = hasattr(importlib.import_module(module), attribute)
        except ImportError:
            found = False
        if not found:
            gone.append(f"{module}.{attribute} ({purpose})")
    return gone


def recorded_address() -> str | None:
    """``auto``: RAY_ADDRESS, else the cluster ``ray start`` recorded on this machine; None."""
    try:
        from ray._private.services import canonicalize_bootstrap_address

        return canonicalize_bootstrap_address("auto") or None
    except Exception:  # noqa: BLE001 - Ray says "could not find any running Ray instance"
        return None


def ping(host: str, port: int, client: bool, timeout: float) -> None:
    """One RPC with Ray's own auth interceptors: GetClusterId to a GCS, PING to a Ray Client
    server. Raises ``grpc.RpcError`` as the server answered; returns when it did, or when this
    Ray has no such RPC (then ``ray.init`` decides)."""
    try:
        from ray._private.grpc_utils import init_grpc_channel
        from ray.core.generated import (
            gcs_service_pb2,
            gcs_service_pb2_grpc,
            ray_client_pb2,
            ray_client_pb2_grpc,
        )
    except ImportError:
        return
    channel = init_grpc_channel(f"{host}:{port}", asynchronous=False)
    try:
        if client:
            request = ray_client_pb2.ClusterInfoRequest(type=ray_client_pb2.ClusterInfoType.PING)
            ray_client_pb2_grpc.RayletDriverStub(channel).ClusterInfo(request, timeout=timeout)
        else:
            gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel).GetClusterId(
                gcs_service_pb2.GetClusterIdRequest(), timeout=timeout
            )
    finally:
        channel.close()


def session_dir() -> str:
    """This node's Ray session folder, as seen from a connected driver or worker; empty when
    not connected (or Ray moved it)."""
    try:
        from ray._private.worker import global_worker

        return str(global_worker.node.get_session_dir_path())
    except Exception:  # noqa: BLE001 - not connected, or Ray's internals moved
        return ""


def filter_error_channel(drop: Callable[[dict[str, Any]], bool]) -> None:
    """Leave out of the driver's console each message of Ray's error channel that ``drop``
    says so (once per process; other messages are printed as before)."""
    try:
        from ray._private import worker
    except ImportError:
        return
    shown = getattr(worker, "print_to_stdstream", None)
    if shown is None or getattr(shown, "_rayflow_filter", False):
        return

    def print_to_stdstream(data: Any, ignore_prefix: bool) -> None:
        if not drop(data):
            shown(data, ignore_prefix)

    print_to_stdstream._rayflow_filter = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = print_to_stdstream


def gitignore_matcher(lines: list[str]) -> Any:
    """Ray's matcher of ``.gitignore`` lines (``.match_file(path)``); None when Ray lacks it."""
    try:
        from ray._private.thirdparty.pathspec import PathSpec
    except ImportError:
        return None
    return PathSpec.from_lines("gitwildmatch", lines)


__all__ = [
    "REQUIRED",
    "filter_error_channel",
    "gitignore_matcher",
    "missing",
    "ping",
    "recorded_address",
    "session_dir",
]
