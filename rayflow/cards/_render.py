"""Rendering a task's cards when its step has ended, inside the task, before its record.

Each ``@card`` of the step becomes one HTML file. A card never fails its task: a render that
raises, returns something other than text, or runs past the card's ``timeout`` is replaced by
an error card naming the problem (or stored as nothing with ``save_errors=False``), and an
unknown card type is named on stderr and skipped, as Metaflow does.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import traceback
from typing import Any

from rayflow.datastore import cards as card_files

from ._collector import CardCollector
from ._types import MetaflowCard, card_type, error_card, rendered


class CardTask:
    """The finished task as a card sees it: ``pathspec``, ids, attempt and artifacts
    (``task.data.x``, ``task['x'].data``, ``'x' in task``), read from the step's own outputs."""

    finished = successful = True

    def __init__(self, flow: Any, pathspec: str, attempt: int, sizes: dict[str, int]) -> None:
        self._flow = flow
        self.pathspec = pathspec
        self.flow_name, self.run_id, self.step_name, self.id = pathspec.split("/")
        self.current_attempt = attempt
        self.artifact_sizes = dict(sizes)
        self.data = _Data(self)

    def _value(self, name: str) -> Any:
        if name not in self.artifact_sizes:
            raise KeyError(f"task {self.pathspec} has no artifact '{name}'")
        return getattr(self._flow, name)

    def __getitem__(self, name: str) -> _Artifact:
        if name not in self.artifact_sizes:
            raise KeyError(f"task {self.pathspec} has no artifact '{name}'")
        return _Artifact(self, name)

    def __contains__(self, name: str) -> bool:
        return name in self.artifact_sizes

    def __iter__(self):
        return (self[n] for n in sorted(self.artifact_sizes))

    def __repr__(self) -> str:
        return f"Task('{self.pathspec}')"


class _Data:
    def __init__(self, task: CardTask) -> None:
        self._task = task

    def __getattr__(self, name: str) -> Any:
        try:
            return self._task._value(name)
        except KeyError as exc:
            raise AttributeError(str(exc)) from None


class _Artifact:
    def __init__(self, task: CardTask, name: str) -> None:
        self._task, self.id = task, name

    @property
    def data(self) -> Any:
        return self._task._value(self.id)


def default_index(specs: list[dict[str, Any]]) -> int | None:
    """Which card gets ``current.card.append``'s components: the editable card with
    ``customize=True``, else the only editable card without an id, else the only editable one."""
    editable = [
        i
        for i, s in enumerate(specs)
        if (cls := card_type(s["type"])) is not None and cls.ALLOW_USER_COMPONENTS
    ]
    for group in (
        [i for i in editable if specs[i].get("customize")],
        [i for i in editable if not specs[i].get("id")],
        editable,
    ):
        if len(group) == 1:
            return group[0]
    return None


def render_cards(
    specs: list[dict[str, Any]],
    collector: CardCollector | None,
    flow: Any,
    pathspec: str,
    attempt: int,
    sizes: dict[str, int],
) -> list[tuple[str, str]]:
    """(file name, HTML) of every card of the step that rendered (or failed with save_errors)."""
    task = CardTask(flow, pathspec, attempt, sizes)
    chosen = default_index(specs)
    out = []
    for index, spec in enumerate(specs):
        cls = card_type(spec["type"])
        if cls is None:
            print(
                f"rayflow: @card(type={spec['type']!r}) on step '{task.step_name}': no such card type; "
                "no card stored",
                file=sys.stderr,
            )
            continue
        # current.card.append goes to the default editable card only; current.card['id'] reaches
        # the card with that id whatever its type (as in Metaflow)
        components = collector.components_for(spec.get("id"), index == chosen) if collector else []
        html = _render_one(cls, spec, rendered(components), task)
        if html is not None:
            digest = hashlib.sha256(f"{pathspec}\0{index}\0{html}".encode()).hexdigest()[:32]
            out.append((card_files.card_name(index, spec["type"], spec.get("id"), digest), html))
    return out


def _render_one(
    cls: type[MetaflowCard], spec: dict[str, Any], components: list[Any], task: CardTask
) -> str | None:
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            card = cls(
                options=dict(spec.get("options") or {}),
                components=components,
                graph=None,
                flow=task._flow,
            )
            box["html"] = card.render(task)
        except BaseException as exc:  # noqa: BLE001 - a card's code may raise anything
            tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # from the card's code on
            box["error"] = (
                f"{type(exc).__name__}: {exc}",
                "".join(traceback.format_exception(type(exc), exc, tb)),
            )

    timeout = float(spec.get("timeout") or 45)
    worker = threading.Thread(target=work, name=f"rayflow-card-{spec['type']}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        box["error"] = (f"rendering took longer than the card's timeout ({timeout:g} s)", "")
    elif "error" not in box and not isinstance(box.get("html"), str):
        box["error"] = (
            f"render() returned {type(box.get('html')).__name__}, not an HTML string",
            "",
        )
    if "error" not in box:
        return box["html"]
    message, details = box["error"]
    print(
        f"rayflow: @card(type={spec['type']!r}) of {task.pathspec} was not rendered: {message}",
        file=sys.stderr,
    )
    if not spec.get("save_errors", True):
        return None
    return error_card(spec["type"], task.pathspec, message, details)
