"""rayflow.ui: ``rayflow ui``, a local, read-only web dashboard over a datastore.

Needs the ``ui`` extra (``pip install 'rayflow[ui]'``: starlette, uvicorn, jinja2).
"""

from __future__ import annotations

from typing import Any

from ._serve import is_loopback, serve


def create_app(
    datastore: str | None = None,
    token: str | None = None,
    sweeps_storage: str | None = None,
    allowed_hosts: list[str] | None = None,
) -> Any:
    """The ASGI application (for ``uvicorn`` or a test client)."""
    from ._app import create_app as make

    return make(datastore, token, sweeps_storage, allowed_hosts)


__all__ = ["create_app", "is_loopback", "serve"]
