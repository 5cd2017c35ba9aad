"""Cards: HTML reports of a task, rendered after its step (Metaflow's ``metaflow.cards``).

``@card`` on a step renders a card once the step has ended and stores it beside the task in
the datastore; ``current.card.append(Markdown(...))`` adds components to it; ``get_cards(task)``
reads the cards back (``python flow.py card get|list|view`` and ``rayflow ui`` show them too).
``from metaflow.cards import Markdown`` becomes ``from rayflow.cards import Markdown``.
"""

from __future__ import annotations

from .._errors import CardNotPresentException
from ._client import Card, CardContainer, get_cards
from ._collector import CardCollector, CardComponents
from ._components import (
    Artifact,
    Error,
    Image,
    Markdown,
    MetaflowCardComponent,
    ProgressBar,
    PythonCode,
    Table,
    VegaChart,
)
from ._types import MetaflowCard

__all__ = [
    "Artifact",
    "Card",
    "CardCollector",
    "CardComponents",
    "CardContainer",
    "CardNotPresentException",
    "Error",
    "Image",
    "Markdown",
    "MetaflowCard",
    "MetaflowCardComponent",
    "ProgressBar",
    "PythonCode",
    "Table",
    "VegaChart",
    "get_cards",
]
