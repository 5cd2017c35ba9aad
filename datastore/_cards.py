"""Cards (``@card``) stored beside their task, one HTML file each.

A card's file name carries what a listing needs without reading the file:
``<NN>.<type>.<id>.<hash>.html`` (``NN`` the card's place among the step's decorators, ``id``
empty when the card has none; type and id are made of ``[A-Za-z0-9_-]``). The files
are written by the task before its record, so a finished task's cards are all there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import _paths
from ._errors import MissingRecordError
from ._storage import Storage

CARD_WORD = re.compile(r"^[A-Za-z0-9_\-]+$")  # what a card type or id may be made of


@dataclass(frozen=True)
class CardFile:
    """One stored card: what its file name says, and the name itself."""

    index: int
    type: str
    id: str | None
    hash: str
    name: str


def card_name(index: int, type: str, id: str | None, hash: str) -> str:
    for word in (type, id):
        if word is not None and not CARD_WORD.fullmatch(word):
            raise ValueError(
                f"invalid card type or id {word!r} (letters, digits, '_' and '-' only)"
            )
    return f"{int(index) % 100:02d}.{type}.{id or ''}.{hash}.html"


def parse_card_name(name: str) -> CardFile | None:
    """The card a file name describes, or None for a file that is not a card."""
    parts = name.split(".")
    if len(parts) != 5 or parts[4] != "html" or not parts[0].isdigit():
        return None
    return CardFile(int(parts[0]), parts[1], parts[2] or None, parts[3], name)


def write_card(
    storage: Storage, flow: str, run_id: str, step: str, task_id: str, name: str, html: str
) -> None:
    storage.write_atomic(_paths.card_file(flow, run_id, step, task_id, name), html.encode("utf-8"))


def list_cards(storage: Storage, flow: str, run_id: str, step: str, task_id: str) -> list[CardFile]:
    """The task's cards in the order of its ``@card`` decorators (one listing request)."""
    found = [
        parse_card_name(n) for n in storage.list_dir(_paths.cards_dir(flow, run_id, step, task_id))
    ]
    return sorted((c for c in found if c is not None), key=lambda c: (c.index, c.name))


def read_card(storage: Storage, flow: str, run_id: str, step: str, task_id: str, name: str) -> str:
    """The card's HTML; MissingRecordError when it is gone."""
    data = storage.read_bytes(_paths.card_file(flow, run_id, step, task_id, name))
    return data.decode("utf-8", errors="replace")


__all__ = [
    "CARD_WORD",
    "CardFile",
    "MissingRecordError",
    "card_name",
    "list_cards",
    "parse_card_name",
    "read_card",
    "write_card",
]
