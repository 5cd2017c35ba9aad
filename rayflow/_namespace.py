"""Which datastore and namespace the client reads (Metaflow's ``metadata()``/``namespace()``).

These are process-wide settings of the *client* only (a notebook's session), never read inside
a running task, so they cannot leak across Ray's pickling.
"""

from __future__ import annotations

from typing import Any

_settings: dict[str, Any] = {"datastore": None, "namespace": ..., "storage": None}


def metadata(url: str | None = None) -> str:
    """Point the client at a datastore URL (``None``: back to the default); return it."""
    _settings["datastore"] = url
    _settings["storage"] = None
    return get_metadata()


def get_metadata() -> str:
    url = datastore_url()
    return f"local@{url}" if "://" not in url else url


def datastore_url() -> str:
    """The URL set by ``metadata()``, else (inside a running step) the run's own datastore, else
    the default one."""
    from rayflow.datastore import default_url

    if _settings["datastore"]:
        return _settings["datastore"]
    from ._current import current

    return current.get("_datastore") or default_url()


def storage() -> Any:
    from rayflow.datastore import open_storage

    url = datastore_url()
    cached = _settings["storage"]
    if cached is None or cached[0] != url:
        cached = _settings["storage"] = (url, open_storage(url))
    return cached[1]


def default_namespace() -> str:
    """Reset to ``user:<username>`` and return it."""
    from rayflow.scheduler import username

    _settings["namespace"] = f"user:{username()}"
    return _settings["namespace"]


def namespace(ns: str | None) -> str | None:
    """Set the namespace; ``None`` means every run of every user."""
    _settings["namespace"] = ns
    return ns


def get_namespace() -> str | None:
    if _settings["namespace"] is ...:
        return default_namespace()
    return _settings["namespace"]
