"""``@card``: the step decorator that renders the task's cards after its step.

One ``CardDecorator`` per step holds every ``@card`` of it (``{"cards": [options, ...]}``), so
a step may carry several cards, as in Metaflow. It is defined in the API layer (it renders
card types and components, which are user API) and acts through the scheduler's
``task_cards`` hook, which stores what it returns beside the task before the task's record.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from rayflow.datastore import cards as card_files
from rayflow.scheduler import DecoratorError
from rayflow.scheduler.decorators import StepDecorator, TaskInfo

#: Where the step's ``current.card`` collector is kept on the flow object once the step ended
#: (a name the artifact writer skips).
COLLECTOR_ATTR = "__rf_card"
CARD_OPTIONS: dict[str, Any] = {
    "type": "default",
    "id": None,
    "options": {},
    "timeout": 45,
    "save_errors": True,
    "customize": False,
    "refresh_interval": 5,
}


def card_options(attributes: dict[str, Any]) -> dict[str, Any]:
    """One ``@card(...)``'s options, checked: a wrong one fails when the flow is defined."""
    unknown = set(attributes) - set(CARD_OPTIONS)
    if unknown:
        raise DecoratorError(
            f"@card got unknown option(s) {', '.join(sorted(unknown))} "
            f"(accepted: {', '.join(CARD_OPTIONS)})"
        )
    spec = {**CARD_OPTIONS, **attributes}
    if not isinstance(spec["type"], str) or not card_files.CARD_WORD.fullmatch(spec["type"]):
        raise DecoratorError(
            f"@card(type={spec['type']!r}): a card type is a name of letters, digits, '_' or '-'"
        )
    if spec["id"] is not None and (
        not isinstance(spec["id"], str) or not card_files.CARD_WORD.fullmatch(spec["id"])
    ):
        raise DecoratorError(
            f"@card(id={spec['id']!r}): a card id is made of letters, digits, '_' or '-'"
        )
    if not isinstance(spec["options"], dict):
        raise DecoratorError(f"@card(options={spec['options']!r}): options must be a dict")
    if not isinstance(spec["timeout"], (int, float)) or spec["timeout"] <= 0:
        raise DecoratorError(
            f"@card(timeout={spec['timeout']!r}): the timeout is a number of seconds > 0"
        )
    return spec


class CardDecorator(StepDecorator):
    """``@card(type='default', id=None, options={}, timeout=45, save_errors=True)``."""

    name = "card"
    defaults: ClassVar[dict[str, Any]] = {"cards": []}
    cache_relevant = False  # cards do not change what a step computes

    def __init__(self, cards: list[dict[str, Any]] | None = None, **attributes: Any) -> None:
        specs = (
            [card_options(c) for c in cards] if cards is not None else [card_options(attributes)]
        )
        ids = [s["id"] for s in specs if s["id"]]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise DecoratorError(f"@card: two cards of one step have the id {twice[0]!r}")
        self.attributes = {"cards": specs}
        # The card types known now travel with the step function when the flow class is shipped
        # by value (a flow run as a script, or from a notebook), which registers a custom type
        # defined beside the flow on the worker too (a class rebuilt there registers itself).
        from ._types import REGISTRY

        self.card_classes = [REGISTRY[s["type"]] for s in specs if s["type"] in REGISTRY]

    def __repr__(self) -> str:
        shown = [
            f"type={s['type']!r}" + (f", id={s['id']!r}" if s["id"] else "")
            for s in self.attributes["cards"]
        ]
        return " ".join(f"@card({text})" for text in shown)

    def joined(self, other: CardDecorator) -> CardDecorator:
        """This step's cards followed by ``other``'s (a second ``@card`` on the same step)."""
        return CardDecorator(cards=self.attributes["cards"] + other.attributes["cards"])

    @classmethod
    def task_cards(cls, attrs: dict[str, Any], flow: Any, task: TaskInfo) -> list[tuple[str, str]]:
        from ._render import render_cards

        try:
            _register_shipped(flow, task.step)
            collector = flow.__dict__.get(COLLECTOR_ATTR) if flow is not None else None
            return render_cards(
                list(attrs.get("cards") or []),
                collector,
                flow,
                task.pathspec,
                task.attempt,
                dict(task.artifacts or {}),
            )
        except Exception as exc:  # noqa: BLE001 - a card never fails its task
            print(
                f"rayflow: the cards of {task.pathspec} were not rendered: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            return []


def _register_shipped(flow: Any, step: str) -> None:
    """Register the card types that came with the step function (see ``card_classes``): a
    class rebuilt by cloudpickle gets its ``type`` only after ``__init_subclass__`` ran."""
    from ._types import REGISTRY

    for deco in getattr(getattr(type(flow), step, None), "_rf_decorators", None) or []:
        for cls in getattr(deco, "card_classes", None) or []:
            if getattr(cls, "type", None):
                REGISTRY[cls.type] = cls  # this run's class, also over an older one


def step_card_specs(flow_cls: type, step: str) -> list[dict[str, Any]]:
    """The options of the step's ``@card`` decorators (for ``current.card``), [] without any."""
    for deco in getattr(getattr(flow_cls, step, None), "_rf_decorators", None) or []:
        if isinstance(deco, CardDecorator):
            return list(deco.attributes["cards"])
    return []
