"""Every ``RAYFLOW_*`` environment variable rayflow reads, read here and nowhere else.

It lives in the datastore, the bottom layer, because the scheduler and the API both need it and
dependencies point one way (API -> scheduler -> datastore). Each function reads the environment
when it is called, not at import, since tests and the CLI set variables while the process runs.
Variables of other tools (``AWS_*``, ``RAY_*``) are read by the code that hands them on, and
click reads the two that are also CLI flags (``--shared-datastore``, ``rayflow ui --token``).
"""

from __future__ import annotations

import os

DATASTORE = "RAYFLOW_DATASTORE"  # where runs are stored when no --datastore is given
CLUSTER = "RAYFLOW_CLUSTER"  # the Ray cluster to join when no --cluster is given
SHARED_DATASTORE = "RAYFLOW_SHARED_DATASTORE"  # every node mounts the local datastore folder
ALLOW_INFEASIBLE = (
    "RAYFLOW_ALLOW_INFEASIBLE"  # skip the @resources check (an autoscaler adds nodes)
)
MAX_SHIP_MB = "RAYFLOW_MAX_SHIP_MB"  # the size limit of the flow folder shipped to a cluster
HEARTBEAT_SECONDS = "RAYFLOW_HEARTBEAT_SECONDS"  # a driver's interval between heartbeats
HEARTBEAT_STALE_SECONDS = "RAYFLOW_HEARTBEAT_STALE_SECONDS"  # a reader's limit before "crashed"
USER = "RAYFLOW_USER"  # the user runs are recorded under (then METAFLOW_USER, then the OS's)
CLUSTER_PYTHON = "RAYFLOW_CLUSTER_PYTHON"  # the interpreter a detached run's Ray job starts
WARM = "RAYFLOW_WARM"  # "0": a local run starts its own Ray and stops it (no warm instance)
WARM_IDLE_MINUTES = "RAYFLOW_WARM_IDLE_MINUTES"  # a warm local Ray stops after this idle time
WARM_DIR = "RAYFLOW_WARM_DIR"  # where the warm instance's state lives (tests use a private one)
RUN_PARAMETER = "RAYFLOW_RUN_"  # + a Parameter's name: its value when not on the command line
DEFAULT_SECRETS = "RAYFLOW_DEFAULT_SECRETS_BACKEND_TYPE"  # @secrets("ID"): its provider type
FLOW_CONFIG = (
    "RAYFLOW_FLOW_CONFIG"  # JSON {config name: file} (then Metaflow's METAFLOW_FLOW_CONFIG)
)
FLOW_CONFIG_VALUE = "RAYFLOW_FLOW_CONFIG_VALUE"  # JSON {config name: value} (or METAFLOW_...)


def _text(name: str) -> str:
    return os.environ.get(name, "").strip()


def _flag(name: str) -> bool:
    return _text(name) not in ("", "0")


def datastore() -> str | None:
    return _text(DATASTORE) or None


def cluster() -> str | None:
    return _text(CLUSTER) or None


def shared_datastore() -> bool:
    return _flag(SHARED_DATASTORE)


def allow_infeasible() -> bool:
    return _flag(ALLOW_INFEASIBLE)


def max_ship_mb() -> str:
    """The raw text (empty when unset); the shipping code says when it is not a size."""
    return _text(MAX_SHIP_MB)


def _positive_seconds(name: str) -> float | None:
    """A positive number of seconds, or None when unset or not one (the default then applies)."""
    try:
        value = float(_text(name))
    except ValueError:
        return None
    return value if value > 0 else None


def heartbeat_seconds() -> float | None:
    return _positive_seconds(HEARTBEAT_SECONDS)


def heartbeat_stale_seconds() -> float | None:
    return _positive_seconds(HEARTBEAT_STALE_SECONDS)


def warm() -> bool:
    """Local runs keep a warm Ray for the next one (on unless ``RAYFLOW_WARM=0``)."""
    return _text(WARM) != "0"


WARM_IDLE_DEFAULT_MINUTES = 15.0


def warm_idle_seconds() -> float:
    minutes = _positive_seconds(WARM_IDLE_MINUTES)
    return 60.0 * (minutes if minutes is not None else WARM_IDLE_DEFAULT_MINUTES)


def warm_dir() -> str | None:
    return _text(WARM_DIR) or None


def user() -> str | None:
    for name in (USER, "METAFLOW_USER", "USER", "USERNAME", "LOGNAME"):
        value = os.environ.get(name)
        if value:
            return value
    return None


def cluster_python() -> str | None:
    return _text(CLUSTER_PYTHON) or None


def for_detached_driver(user_name: str) -> dict[str, str]:
    """The settings a detached run's driver (a Ray job on the cluster) inherits from the machine
    that submitted it: the user, and the ones that change how the run behaves when set."""
    carried = {USER: user_name}
    for name in (HEARTBEAT_SECONDS, HEARTBEAT_STALE_SECONDS, ALLOW_INFEASIBLE, MAX_SHIP_MB):
        if _text(name):
            carried[name] = _text(name)
    return carried


def run_parameter(name: str) -> str | None:
    """A Parameter's value from ``RAYFLOW_RUN_<NAME>`` or, as in Metaflow, ``METAFLOW_RUN_<NAME>``
    (upper case, ``-`` as ``_``); None when neither is set."""
    key = name.upper().replace("-", "_")
    for prefix in (RUN_PARAMETER, "METAFLOW_RUN_"):
        if f"{prefix}{key}" in os.environ:
            return os.environ[f"{prefix}{key}"]
    return None


def flow_config(values: bool) -> tuple[str, str] | None:
    """``(variable, raw JSON text)`` of the Config files (``values`` False) or values given in the
    environment: ``RAYFLOW_FLOW_CONFIG[_VALUE]``, else Metaflow's ``METAFLOW_FLOW_CONFIG[_VALUE]``;
    None when neither is set. The caller parses it (and names the variable when it is not JSON)."""
    ours = FLOW_CONFIG_VALUE if values else FLOW_CONFIG
    for name in (ours, ours.replace("RAYFLOW_", "METAFLOW_", 1)):
        if _text(name):
            return name, _text(name)
    return None


def default_secrets_backend() -> str | None:
    """The provider of a ``@secrets`` source given without one (``"ID"``), or None."""
    return _text(DEFAULT_SECRETS) or _text("METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE") or None
