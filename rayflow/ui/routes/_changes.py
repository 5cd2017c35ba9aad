"""``/api/runs/F/R/changes?since=CURSOR``: what a live run page must change, and nothing more.

The answer always carries the run's status and its head line (a few hundred bytes); beyond that
only the step rows, the step graph and the task rows that changed after ``since``
(``_live.RunVersions``), each as the HTML the page swaps in, plus the new cursor. A cursor this
server did not give out (it restarted) answers ``reload: true``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._shared import Ui
from .._svg import step_graph
from ._runs import load_view


def routes(ui: Ui) -> list[Route]:
    def changes(request: Request) -> Response:
        view = load_view(ui, request)
        versions, cursor = ui.live.observe((view.run.flow_name, view.run.id), view)
        since = ui.live.version_of(request.query_params.get("since"), versions)
        answer = {
            "cursor": cursor,
            "status": view.status,
            "running": view.running,
            "finished_at": view.record.get("finished_at"),
            "task_total": len(view.tasks),
            "head": ui.render("_run_head.html", view=view),
        }
        if since is None:
            return JSONResponse({**answer, "reload": True})
        step_row, task_row = ui.macro("step_row"), ui.macro("task_row")
        names = versions.steps_since(since)
        answer["steps"] = {
            s.name: {"html": str(step_row(view.running, s)), "rows": len(s.tasks)}
            for s in view.steps
            if s.name in names
        }
        if versions.graph_since(since):
            answer["graph"] = step_graph(view.plan, view.steps, view.running)
        keys = versions.tasks_since(since)
        flow, run_id = view.run.flow_name, view.run.id
        answer["tasks"] = [
            {
                "task": f"{t.step}/{t.id}",
                "step": t.step,
                "state": t.state,
                "html": str(task_row(flow, run_id, t)),
            }
            for t in view.tasks
            if (t.step, t.id) in keys
        ]
        return JSONResponse(answer)

    return [Route("/api/runs/{flow}/{run_id}/changes", changes)]
