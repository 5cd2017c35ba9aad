"""The ``rayflow ui`` web application: read-only pages over one datastore (Starlette).

Every route is a GET; names taken from URLs are validated by ``rayflow.datastore.paths`` before
they reach storage, and anything not found is a 404 page. With a token, every request must carry
it: ``?token=`` once (answered with a cookie and a redirect to the same page without it), the
cookie afterwards, or an ``Authorization: Bearer`` / ``X-Rayflow-Token`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from rayflow import _namespace as ns
from rayflow._client import NotFound
from rayflow.datastore import DatastoreError

from . import _model, _runview, _sweeps, _taskview
from ._cards import routes as card_routes
from ._embed import timeline_html
from ._format import FILTERS
from ._svg import history_plot, step_graph

log = logging.getLogger("rayflow.ui")
HERE = os.path.dirname(os.path.abspath(__file__))
COOKIE = "rayflow_ui_token"


def _templates() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(HERE, "templates")),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(FILTERS)
    return env


class TokenGate:
    """ASGI middleware: every request needs the token (query once, then cookie, or a header)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token
        self.cookie = hashlib.sha256(f"rayflow-ui:{token}".encode()).hexdigest()

    def _ok(self, given: str | None, expected: str) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), expected.encode())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        query = conn.query_params.get("token")
        if query is not None and self._ok(query, self.token):
            rest = [(k, v) for k, v in conn.query_params.multi_items() if k != "token"]
            target = conn.url.path + (f"?{urlencode(rest)}" if rest else "")
            response: Response = RedirectResponse(target, status_code=303)
            response.set_cookie(COOKIE, self.cookie, httponly=True, samesite="strict", path="/")
            await response(scope, receive, send)
            return
        auth = conn.headers.get("authorization", "")
        header = auth[7:] if auth.lower().startswith("bearer ") else conn.headers.get("x-rayflow-token")
        if self._ok(header, self.token) or self._ok(conn.cookies.get(COOKIE), self.cookie):
            await self.app(scope, receive, send)
            return
        response = HTMLResponse(
            "<!doctype html><title>rayflow ui: token required</title><h1>401: token required</h1>"
            "<p>This rayflow ui was started with a token. Open the URL it printed "
            "(with <code>?token=…</code>) or send the token in an <code>Authorization: Bearer</code> "
            "header.</p>", status_code=401)
        await response(scope, receive, send)


def create_app(datastore: str | None = None, token: str | None = None,
               sweeps_storage: str | None = None, allowed_hosts: list[str] | None = None) -> Any:
    """The ASGI app for ``datastore`` (default: the client's default datastore).

    ``allowed_hosts``: Host header names accepted (``serve`` passes the loopback names when it
    listens on loopback, so a page of another site cannot read the dashboard by DNS rebinding).
    """
    if datastore:
        ns.metadata(datastore)
    ns.namespace(None)  # the dashboard shows every user's runs
    url = ns.datastore_url()
    env = _templates()
    cache = _runview.DoneCache()

    def page(name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        html = env.get_template(name).render(datastore=ns.get_metadata(), **ctx)
        return HTMLResponse(html, status_code=status_code)

    def home(request: Request) -> Response:
        return page("home.html", flows=_model.home())

    def flow(request: Request) -> Response:
        name = request.path_params["flow"]
        tag = request.query_params.get("tag") or None
        status = request.query_params.get("status") or None
        return page("flow.html", flow=_model.flow_runs(name, tag, status), tag=tag, status=status)

    def compare(request: Request) -> Response:
        name = request.path_params["flow"]
        run_ids = [r for r in request.query_params.getlist("run") if r]
        if len(run_ids) < 2:
            return page("error.html", 400, code=400, message="Pick at least two runs to compare.",
                        back=f"/flows/{name}")
        runs, rows = _model.compare(name, run_ids[:20])
        return page("compare.html", flow=name, runs=runs, rows=rows)

    def live_parts(view: _runview.RunView) -> dict[str, str]:
        timeline, generated = timeline_html(view)
        ctx = {"view": view, "graph": step_graph(view.plan, view.steps, view.running), "timeline": timeline,
               "timeline_generated": generated}
        return {"run-head": env.get_template("_run_head.html").render(**ctx),
                "run-live": env.get_template("_run_live.html").render(**ctx)}

    def run_view(request: Request) -> _runview.RunView:
        run = _model.get_run(request.path_params["flow"], request.path_params["run_id"])
        return _runview.run_view(run, cache)

    def run(request: Request) -> Response:
        view = run_view(request)
        record = view.record
        tags = [t for t in record.get("tags") or []]
        studies = [t.split(":", 1)[1] for t in tags if t.startswith("study:")]
        return page("run.html", view=view, parts=live_parts(view), tags=tags, studies=studies,
                    lineage=view.run.lineage)

    def run_api(request: Request) -> Response:
        view = run_view(request)
        counts = {s.name: s.counts for s in view.steps}
        return JSONResponse({"status": view.status, "running": view.running,
                             "finished_at": view.record.get("finished_at"), "steps": counts,
                             "tasks": len(view.tasks), "html": live_parts(view)})

    def task(request: Request) -> Response:
        p = request.path_params
        data = _taskview.task_page(p["flow"], p["run_id"], p["step"], p["task_id"])
        return page("task.html", t=data, task=data.task, meta=data.meta)

    def sweeps(request: Request) -> Response:
        storage = _sweeps.storage_url(url, sweeps_storage)
        return page("sweeps.html", studies=_sweeps.studies(storage), storage=storage)

    def study(request: Request) -> Response:
        storage = _sweeps.storage_url(url, sweeps_storage)
        data = _sweeps.study_page(storage, request.path_params["study"])
        return page("study.html", study=data, plot=history_plot(_sweeps.history_points(data), data.direction))

    def not_found(request: Request, exc: Exception) -> Response:
        message = str(exc) if isinstance(exc, NotFound) else "There is nothing at this address."
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=404)
        return page("error.html", 404, code=404, message=message, back="/")

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return not_found(request, exc)
        return PlainTextResponse(f"{exc.status_code}: {exc.detail}", status_code=exc.status_code,
                                 headers=getattr(exc, "headers", None))

    def datastore_error(request: Request, exc: Exception) -> Response:
        log.warning("datastore error on %s: %s", request.url.path, exc)
        return page("error.html", 502, code=502, message=f"The datastore could not be read: {exc}", back="/")

    def server_error(request: Request, exc: Exception) -> Response:
        log.exception("error on %s", request.url.path)
        return page("error.html", 500, code=500,
                    message=f"Internal error ({type(exc).__name__}); see the server's output.", back="/")

    routes = [
        Route("/", home),
        Route("/flows/{flow}", flow),
        Route("/flows/{flow}/compare", compare),
        Route("/runs/{flow}/{run_id}", run),
        Route("/runs/{flow}/{run_id}/{step}/{task_id}", task),
        Route("/api/runs/{flow}/{run_id}", run_api),
        Route("/sweeps", sweeps),
        Route("/sweeps/{study}", study),
        Mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static"),
    ]
    routes[-1:-1] = card_routes(env)  # a task's cards (``@card``)
    app = Starlette(routes=routes, exception_handlers={
        NotFound: not_found, HTTPException: http_error,
        DatastoreError: datastore_error, Exception: server_error,
    })
    app.state.datastore = url
    outer: Any = TokenGate(app, token) if token else app
    if allowed_hosts:
        outer = TrustedHostMiddleware(outer, allowed_hosts=allowed_hosts)
    return outer
