"""Card types: ``MetaflowCard`` subclasses, found by their ``type`` name.

``@card(type=T)`` renders the subclass whose ``type`` is ``T`` once the task's step has ended.
Defining a subclass (in the flow's file, or a module it imports) registers it: the flow's file
is imported on every worker, so a custom type is known wherever its task runs. The built-in
types are Metaflow's: ``default`` (the task's artifacts and facts, plus appended components),
``blank`` (only the appended components) and ``taskspec_card`` (the task's pathspec).
"""

from __future__ import annotations

import html
from typing import Any, ClassVar

from ._components import MetaflowCardComponent, render_any

REGISTRY: dict[str, type[MetaflowCard]] = {}
_LARGEST_SHOWN = 1 << 20  # artifacts larger than this are named in the default card, not loaded


class MetaflowCard:
    """Base of a card type: ``render(task)`` returns the card's HTML.

    ``options`` are the decorator's ``options=`` dict; ``components`` what the step appended,
    already rendered (each component's ``render()`` output, as in Metaflow; given only to types
    with ``ALLOW_USER_COMPONENTS``). ``task`` offers the finished task's
    ``pathspec``, ids and artifacts (``task.data.x``, ``task['x'].data``).
    """

    type: ClassVar[str | None] = None
    ALLOW_USER_COMPONENTS: ClassVar[bool] = False
    RUNTIME_UPDATABLE: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("type"):
            REGISTRY[cls.__dict__["type"]] = cls

    def __init__(
        self,
        options: dict | None = None,
        components: list | None = None,
        graph: Any = None,
        flow: Any = None,
        **kwargs: Any,
    ) -> None:
        self.options = dict(options or {})
        self._components = list(components or [])
        self._flow = flow

    def render(self, task: Any) -> str:
        raise NotImplementedError(f"card type {self.type!r} does not implement render(task)")


def card_type(name: str) -> type[MetaflowCard] | None:
    """The class of a card type, or None; Metaflow's own test card types are loaded on demand."""
    if name not in REGISTRY and name.startswith("test_"):
        from . import _testcards  # noqa: F401 - registers them

    return REGISTRY.get(name)


_STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f5f5f5}pre{background:#f7f7f7;padding:8px;
overflow-x:auto;white-space:pre-wrap;word-break:break-word;margin:0}
.rf-facts td:first-child{color:#666}.rf-component{margin:12px 0}.rf-error pre{color:#a00}
"""
_VEGA = (
    '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>'
    '<script src="https://cdn.jsdelivr.net/npm/vega-lite@5"></script>'
    '<script src="https://cdn.jsdelivr.net/npm/vega-embed@6"></script>'
)


def page(title: str, body: str) -> str:
    """A whole HTML document around a card's body (cards are standalone files)."""
    vega = _VEGA if "rf-vega" in body else ""
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style>{vega}</head><body>{body}</body></html>"
    )


def rendered(components: list[Any]) -> list[Any]:
    """What a card type is given: each component's ``render()`` output (other values appended
    to ``current.card`` become escaped text)."""
    return [
        c.render() if isinstance(c, MetaflowCardComponent) else render_any(c) for c in components
    ]


def components_html(components: list[Any]) -> str:
    return "".join(f'<div class="rf-component">{_fragment(c)}</div>' for c in components)


def _fragment(output: Any) -> str:
    if isinstance(output, str):
        return output
    import json

    return f"<pre>{html.escape(json.dumps(output, default=str, indent=1))}</pre>"


class BlankCard(MetaflowCard):
    """Only the components the step appended."""

    type = "blank"
    ALLOW_USER_COMPONENTS = True

    def render(self, task: Any) -> str:
        title = self.options.get("title") or task.pathspec
        return page(str(title), components_html(self._components))


class DefaultCard(MetaflowCard):
    """The task's facts (flow, run, step, task, attempt), its artifacts, then the components
    the step appended. ``options={"only_repr": True}`` is accepted; values are always shown
    as their repr."""

    type = "default"
    ALLOW_USER_COMPONENTS = True

    def render(self, task: Any) -> str:
        facts = [
            ("flow", task.flow_name),
            ("run", task.run_id),
            ("step", task.step_name),
            ("task", task.id),
            ("attempt", task.current_attempt),
            ("pathspec", task.pathspec),
        ]
        rows = "".join(f"<tr><td>{k}</td><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
        body = [
            f"<h1>Task {html.escape(task.pathspec)}</h1>",
            f'<table class="rf-facts">{rows}</table>',
        ]
        if self._components:
            body.append("<h2>Components</h2>" + components_html(self._components))
        body.append("<h2>Artifacts</h2>" + self._artifacts(task))
        return page(task.pathspec, "".join(body))

    def _artifacts(self, task: Any) -> str:
        rows = []
        for name, size in sorted(task.artifact_sizes.items()):
            if name.startswith("_"):
                continue
            if size > _LARGEST_SHOWN:
                shown, kind = f"({size} bytes, not shown)", ""
            else:
                try:
                    value = task[name].data
                    shown, kind = _repr(value), type(value).__name__
                except Exception as exc:  # noqa: BLE001 - a value that cannot be read back
                    shown, kind = f"(cannot be shown: {exc})", ""
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td>{html.escape(kind)}</td>"
                f"<td><pre>{html.escape(shown)}</pre></td></tr>"
            )
        if not rows:
            return "<p>No artifacts.</p>"
        return (
            "<table><thead><tr><th>name</th><th>type</th><th>value</th></tr></thead>"
            + "".join(rows)
            + "</table>"
        )


def _repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 1000 else text[:1000] + " ..."


class TaskSpecCard(MetaflowCard):
    """Just the task's pathspec (Metaflow's ``taskspec_card``, handy in tests)."""

    type = "taskspec_card"

    def render(self, task: Any) -> str:
        return f"{task.pathspec}"


def error_card(card_type_name: str, pathspec: str, message: str, details: str) -> str:
    """The card stored instead of one whose rendering failed (``save_errors=True``)."""
    body = (
        f"<h1>Card of type {html.escape(card_type_name)} could not be rendered</h1>"
        f"<p>Task {html.escape(pathspec)}: {html.escape(message)}</p>"
        f'<div class="rf-error"><pre>{html.escape(details)}</pre></div>'
    )
    return page(f"card error: {pathspec}", body)
