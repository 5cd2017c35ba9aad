"""A run's page and what it loads on demand: a window of a step's tasks, the timeline.

The page itself holds per-step summaries and at most ``_runpage.PAGE`` tasks per step, so its
size does not grow with the run; the rest of a step's tasks come a window at a time from
``/api/runs/F/R/tasks``, and rayflow's full task-by-task timeline from ``/runs/F/R/timeline``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .. import _model, _runpage, _runview
from .._shared import Ui
from .._svg import step_graph


def load_view(ui: Ui, request: Request) -> _runview.RunView:
    run = _model.get_run(request.path_params["flow"], request.path_params["run_id"])
    return _runview.run_view(run, ui.cache)


def _int(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name) or ""
    return int(text) if text.isdigit() else default


def routes(ui: Ui) -> list[Route]:
    def run(request: Request) -> Response:
        view = load_view(ui, request)
        _, cursor = ui.live.observe((view.run.flow_name, view.run.id), view)
        tags = list(view.record.get("tags") or [])
        studies = [t.split(":", 1)[1] for t in tags if t.startswith("study:")]
        timeline, kind = _runpage.timeline(view)
        focus = request.query_params.get("step")
        return ui.page(
            "run.html",
            **_runpage.context(view, focus, _int(request, "offset", 0)),
            graph=step_graph(view.plan, view.steps, view.running),
            timeline=timeline,
            timeline_kind=kind,
            cursor=cursor,
            tags=tags,
            studies=studies,
            lineage=view.run.lineage,
        )

    def summary(request: Request) -> Response:
        """Status and per-step counts as JSON (for scripts; the page polls ``changes``)."""
        view = load_view(ui, request)
        return JSONResponse(
            {
                "status": view.status,
                "running": view.running,
                "finished_at": view.record.get("finished_at"),
                "steps": {s.name: s.counts for s in view.steps},
                "tasks": len(view.tasks),
            }
        )

    def tasks(request: Request) -> Response:
        """Rows of one step's tasks from ``offset`` (the page's "show more")."""
        view = load_view(ui, request)
        step = _runpage.find_step(view, request.query_params.get("step") or "")
        if step is None:
            return JSONResponse({"error": "no such step in this run"}, status_code=404)
        offset = _int(request, "offset", 0)
        shown = _runpage.window(step, offset, _int(request, "limit", _runpage.PAGE))
        row = ui.macro("task_row")
        end = offset + len(shown)
        return JSONResponse(
            {
                "step": step.name,
                "total": len(step.tasks),
                "tasks": [f"{t.step}/{t.id}" for t in shown],
                "html": "".join(str(row(view.run.flow_name, view.run.id, t)) for t in shown),
                "next": end if end < len(step.tasks) else None,
            }
        )

    def timeline(request: Request) -> Response:
        """The timeline the page shows (one bar per step for a big run), as an HTML fragment."""
        html, kind = _runpage.timeline(load_view(ui, request))
        return JSONResponse({"html": html, "kind": kind})

    def full_timeline(request: Request) -> Response:
        """rayflow's timeline of every task, whatever the run's size (``rayflow timeline``)."""
        from rayflow import _stats, _timeline

        run = _model.get_run(request.path_params["flow"], request.path_params["run_id"])
        return HTMLResponse(_timeline.render(_stats.run_stats(run)))

    return [
        Route("/runs/{flow}/{run_id}", run),
        Route("/runs/{flow}/{run_id}/timeline", full_timeline),
        Route("/api/runs/{flow}/{run_id}", summary),
        Route("/api/runs/{flow}/{run_id}/tasks", tasks),
        Route("/api/runs/{flow}/{run_id}/timeline", timeline),
    ]
