"""Start an embedded Ray instance, or join a cluster; shut down only what rayflow started."""

from __future__ import annotations

import logging
import os
from typing import Any

from ._errors import ClusterError

_TOKEN_FILE = os.path.expanduser("~/.ray/auth_token")


def connect(address: str | None = None, num_cpus: int | None = None,
            runtime_env: dict[str, Any] | None = None) -> bool:
    """Make sure Ray is initialised; return True if this call started it (and must stop it)."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAYFLOW_CLUSTER") or None
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR,
                              "configure_logging": True}
    if runtime_env:
        kwargs["runtime_env"] = runtime_env
    if address:
        if os.path.exists(_TOKEN_FILE) and not os.environ.get("RAY_AUTH_MODE"):
            os.environ["RAY_AUTH_MODE"] = "token"
        try:
            ray.init(address=address, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure here is "cannot reach the cluster"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ClusterError(f"cannot connect to Ray cluster at {address}: {first}") from None
        return True
    os.environ.setdefault("RAY_TMPDIR", "/tmp/ray")
    try:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **kwargs)
    except Exception as exc:  # noqa: BLE001
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterError(f"cannot start a local Ray instance: {first}") from None
    return True


def shutdown(started: bool) -> None:
    if started:
        import ray

        ray.shutdown()


def cluster_cpus() -> int:
    import ray

    try:
        return max(1, int(ray.cluster_resources().get("CPU", 1)))
    except Exception:  # noqa: BLE001
        return 1
