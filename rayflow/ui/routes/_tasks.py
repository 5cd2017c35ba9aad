"""One task's page: its record, artifacts (previews) and logs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import _taskview
from .._shared import Ui


def routes(ui: Ui) -> list[Route]:
    def task(request: Request) -> Response:
        p = request.path_params
        data = _taskview.task_page(p["flow"], p["run_id"], p["step"], p["task_id"])
        return ui.page("task.html", t=data, task=data.task, meta=data.meta)

    return [Route("/runs/{flow}/{run_id}/{step}/{task_id}", task)]
