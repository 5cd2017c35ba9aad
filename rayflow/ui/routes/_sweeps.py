"""Sweeps (Optuna studies) stored beside the datastore: the list, and one study's trials."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import _sweeps
from .._shared import Ui
from .._svg import history_plot


def routes(ui: Ui) -> list[Route]:
    def sweeps(request: Request) -> Response:
        storage = _sweeps.storage_url(ui.datastore, ui.sweeps_storage)
        return ui.page("sweeps.html", studies=_sweeps.studies(storage), storage=storage)

    def study(request: Request) -> Response:
        storage = _sweeps.storage_url(ui.datastore, ui.sweeps_storage)
        data = _sweeps.study_page(storage, request.path_params["study"])
        return ui.page(
            "study.html",
            study=data,
            plot=history_plot(_sweeps.history_points(data), data.direction),
        )

    return [Route("/sweeps", sweeps), Route("/sweeps/{study}", study)]
