"""The home page (every flow), a flow's runs (a page at a time) and runs compared side by side."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import _model
from .._shared import Ui

RUNS_PER_PAGE = 100


def _offset(request: Request) -> int:
    text = request.query_params.get("offset") or "0"
    return max(0, int(text)) if text.isdigit() else 0


def routes(ui: Ui) -> list[Route]:
    def home(request: Request) -> Response:
        return ui.page("home.html", flows=_model.home())

    def flow(request: Request) -> Response:
        """Filters (tag, status) apply to every run; the table shows ``RUNS_PER_PAGE`` of them
        (``?offset=``)."""
        name = request.path_params["flow"]
        tag = request.query_params.get("tag") or None
        status = request.query_params.get("status") or None
        data = _model.flow_runs(name, tag, status, _offset(request), RUNS_PER_PAGE)
        return ui.page("flow.html", flow=data, tag=tag, status=status, page_size=RUNS_PER_PAGE)

    def compare(request: Request) -> Response:
        name = request.path_params["flow"]
        run_ids = [r for r in request.query_params.getlist("run") if r]
        if len(run_ids) < 2:
            return ui.page(
                "error.html",
                400,
                code=400,
                message="Pick at least two runs to compare.",
                back=f"/flows/{name}",
            )
        runs, rows = _model.compare(name, run_ids[:20])
        return ui.page("compare.html", flow=name, runs=runs, rows=rows)

    return [Route("/", home), Route("/flows/{flow}", flow), Route("/flows/{flow}/compare", compare)]
