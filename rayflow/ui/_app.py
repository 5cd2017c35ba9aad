"""The ``rayflow ui`` web application: read-only pages over one datastore (Starlette).

Every route is a GET; names taken from URLs are validated by ``rayflow.datastore.paths`` before
they reach storage, and anything not found is a 404 page. The pages live in ``routes/`` (one
module per idea, listed in ``routes.MODULES``); what they share is one ``_shared.Ui``. With a
token, every request must carry it (``_gate.TokenGate``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from rayflow import _namespace as ns
from rayflow._client import NotFound
from rayflow.datastore import DatastoreError

from ._gate import TokenGate
from ._shared import HERE, Ui
from .routes import all_routes

log = logging.getLogger("rayflow.ui")


def error_handlers(ui: Ui) -> dict[Any, Any]:
    """Not found: a 404 page (JSON under /api/); datastore trouble: 502; anything else: 500,
    with the traceback in the server's log and never on the page."""

    def not_found(request: Request, exc: Exception) -> Response:
        message = str(exc) if isinstance(exc, NotFound) else "There is nothing at this address."
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=404)
        return ui.page("error.html", 404, code=404, message=message, back="/")

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return not_found(request, exc)
        return PlainTextResponse(
            f"{exc.status_code}: {exc.detail}",
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    def datastore_error(request: Request, exc: Exception) -> Response:
        log.warning("datastore error on %s: %s", request.url.path, exc)
        return ui.page(
            "error.html", 502, code=502, message=f"The datastore could not be read: {exc}", back="/"
        )

    def server_error(request: Request, exc: Exception) -> Response:
        log.exception("error on %s", request.url.path)
        return ui.page(
            "error.html",
            500,
            code=500,
            message=f"Internal error ({type(exc).__name__}); see the server's output.",
            back="/",
        )

    return {
        NotFound: not_found,
        HTTPException: http_error,
        DatastoreError: datastore_error,
        Exception: server_error,
    }


def create_app(
    datastore: str | None = None,
    token: str | None = None,
    sweeps_storage: str | None = None,
    allowed_hosts: list[str] | None = None,
) -> Any:
    """The ASGI app for ``datastore`` (default: the client's default datastore).

    ``allowed_hosts``: Host header names accepted (``serve`` passes the loopback names when it
    listens on loopback, so a page of another site cannot read the dashboard by DNS rebinding).
    """
    if datastore:
        ns.metadata(datastore)
    ns.namespace(None)  # the dashboard shows every user's runs
    ui = Ui(ns.datastore_url(), sweeps_storage)
    static = Mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static")
    app = Starlette(routes=[*all_routes(ui), static], exception_handlers=error_handlers(ui))
    app.state.datastore = ui.datastore
    outer: Any = TokenGate(app, token) if token else app
    if allowed_hosts:
        outer = TrustedHostMiddleware(outer, allowed_hosts=allowed_hosts)
    return outer
