"""The cards of a task in ``rayflow ui``: a page listing them, each shown in a sandboxed frame.

A card is HTML a step's code produced (it may hold scripts, e.g. a VegaChart's), so it is
served with ``Content-Security-Policy: sandbox allow-scripts`` and framed with the same
sandbox: it runs in an opaque origin and can neither read the dashboard's cookie nor call its
pages. Cards are read with ``rayflow.cards.get_cards``, so a resumed task shows its origin's.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from rayflow._client import NotFound
from rayflow.cards import get_cards

SANDBOX = "allow-scripts"
_PAGE = """{% extends "base.html" %}
{% block title %}cards of {{ pathspec }}{% endblock %}
{% block crumbs %}<div class="crumbs"><a href="/">flows</a> / <a href="/flows/{{ p.flow }}">{{ p.flow }}</a> / <a href="/runs/{{ p.flow }}/{{ p.run_id }}">{{ p.run_id }}</a> / <a href="/runs/{{ p.flow }}/{{ p.run_id }}/{{ p.step }}/{{ p.task_id }}">{{ p.step }}/{{ p.task_id }}</a> / <b>cards</b></div>{% endblock %}
{% block body %}
<h1>Cards of {{ p.step }}/{{ p.task_id }} <span class="muted">({{ cards|length }})</span></h1>
{% if origin %}<p class="muted">Cloned by resume: the cards of <code>{{ origin }}</code>.</p>{% endif %}
{% for c in cards %}
<section class="card" id="card-{{ loop.index0 }}">
<h2>{{ c.type }}{% if c.id %} <span class="muted">id {{ c.id }}</span>{% endif %} <span class="muted">{{ c.hash[:12] }}</span>
 <a href="{{ base }}/{{ c.path.rsplit('/', 1)[1] }}" target="_blank">open</a></h2>
<iframe sandbox="{{ sandbox }}" src="{{ base }}/{{ c.path.rsplit('/', 1)[1] }}" title="card {{ c.type }}"
 style="width:100%;height:600px;border:1px solid #ddd;resize:vertical"></iframe>
</section>
{% else %}<p class="muted">This task has no cards (add <code>@card</code> to its step).</p>{% endfor %}
{% endblock %}
"""


def routes(env: Any) -> list[Route]:
    """``/cards/FLOW/RUN/STEP/TASK`` (the list) and ``.../NAME`` (one card's HTML)."""
    template = env.from_string(_PAGE)

    def _cards(p: dict[str, str]) -> Any:
        return get_cards(f"{p['flow']}/{p['run_id']}/{p['step']}/{p['task_id']}")

    def cards_page(request: Request) -> Response:
        from rayflow import _namespace as ns

        p = request.path_params
        found = _cards(p)
        base = f"/cards/{p['flow']}/{p['run_id']}/{p['step']}/{p['task_id']}"
        html = template.render(
            datastore=ns.get_metadata(),
            p=p,
            cards=list(found),
            base=base,
            sandbox=SANDBOX,
            origin=found.origin_pathspec,
            pathspec=f"{p['flow']}/{p['run_id']}/{p['step']}/{p['task_id']}",
        )
        return HTMLResponse(html)

    def card_file(request: Request) -> Response:
        p = request.path_params
        for card in _cards(p):
            if card.path.rsplit("/", 1)[1] == p["name"]:
                return HTMLResponse(
                    card.get(),
                    headers={
                        "Content-Security-Policy": f"sandbox {SANDBOX}",
                        "X-Content-Type-Options": "nosniff",
                    },
                )
        raise NotFound(
            f"task {p['flow']}/{p['run_id']}/{p['step']}/{p['task_id']} has no card {p['name']}"
        )

    return [
        Route("/cards/{flow}/{run_id}/{step}/{task_id}", cards_page),
        Route("/cards/{flow}/{run_id}/{step}/{task_id}/{name}", card_file),
    ]
