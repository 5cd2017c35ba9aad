"""What every route module of the dashboard shares: the templates, the caches, the settings.

One ``Ui`` is made per application by ``create_app`` and handed to each route module's
``routes(ui)``; a route module keeps no state of its own, so two apps (tests) never mix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import HTMLResponse

from rayflow import _namespace as ns

from ._format import FILTERS
from ._live import LiveTracker
from ._runview import DoneCache

HERE = os.path.dirname(os.path.abspath(__file__))


def templates() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(HERE, "templates")),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


@dataclass
class Ui:
    """The state of one dashboard: its datastore URL, where sweeps are stored, templates, the
    cache of finished task records and the versions live pages poll for."""

    datastore: str
    sweeps_storage: str | None = None
    env: Any = field(default_factory=templates)
    cache: DoneCache = field(default_factory=DoneCache)
    live: LiveTracker = field(default_factory=LiveTracker)

    def render(self, name: str, **ctx: Any) -> str:
        return str(self.env.get_template(name).render(datastore=ns.get_metadata(), **ctx))

    def page(self, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(self.render(name, **ctx), status_code=status_code)

    def from_string(self, source: str) -> Any:
        """A template from source text (a route module's own page), with the app's filters."""
        return self.env.from_string(source)

    def macro(self, name: str) -> Any:
        """A macro of ``templates/_rows.html`` (rows the live page also receives one by one)."""
        return getattr(self.env.get_template("_rows.html").module, name)
