"""``current.card``: the components a running step appends to its cards.

Components are only collected here; the cards are rendered after the step ends (so a
component changed with ``update`` after being appended shows its last state). Which card gets
``current.card.append``'s components is decided then, from the step's ``@card`` decorators:
the step's only editable card, else the editable one with ``customize=True``.
``current.card['ID']`` collects for the card with that id.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from ._components import MetaflowCardComponent


def _accepted(component: Any) -> bool:
    """Only components go into cards (as in Metaflow); anything else is named and left out."""
    if isinstance(component, MetaflowCardComponent):
        return True
    print(
        f"rayflow: current.card: {type(component).__name__} is not a card component "
        "(rayflow.cards: Markdown, Table, Image...); left out of the card",
        file=sys.stderr,
    )
    return False


class CardComponents:
    """The components of one card (``current.card['ID']``): a small list."""

    def __init__(self, items: list[Any]) -> None:
        self._items = items

    def append(self, component: Any) -> None:
        if _accepted(component):
            self._items.append(component)

    def extend(self, components: list[Any]) -> None:
        self._items.extend(c for c in components if _accepted(c))

    def clear(self) -> None:
        self._items.clear()

    def refresh(self, *args: Any, **kwargs: Any) -> None:
        """Accepted: rayflow renders a card once, when its task ends, with its last components."""

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Any:
        return self._items[index]


class CardCollector(CardComponents):
    """``current.card``: ``append``/``extend``/``clear`` the default card, ``['ID']`` another."""

    def __init__(self, specs: list[dict[str, Any]] | None = None) -> None:
        super().__init__([])
        self._by_id: dict[str, list[Any]] = {}
        self._specs = list(specs or [])  # the step's @card options, when known

    def get(self, type: str | None = None, id: str | None = None) -> list[Any]:
        """The components collected so far for the step's cards of this ``type`` and/or ``id``
        (an empty list when the step has no such card)."""
        if type is None and id is None:
            return list(self._items)
        from ._render import default_index

        chosen = default_index(self._specs)
        found: list[Any] = []
        for index, spec in enumerate(self._specs):
            if (type is None or spec["type"] == type) and (id is None or spec["id"] == id):
                found += self.components_for(spec["id"], index == chosen)
        return found

    def append(self, component: Any, id: str | None = None) -> None:
        if _accepted(component):
            (self._by_id.setdefault(id, []) if id else self._items).append(component)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return CardComponents(self._by_id.setdefault(key, []))
        return self._items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        items = self._by_id.setdefault(key, [])
        items[:] = [
            c for c in (value if isinstance(value, (list, tuple)) else [value]) if _accepted(c)
        ]

    def components_for(self, card_id: str | None, default: bool) -> list[Any]:
        """The components a card gets: those appended under its id, then (for the default
        editable card) those appended to ``current.card`` itself."""
        found = list(self._by_id.get(card_id, [])) if card_id else []
        return found + (list(self._items) if default else [])
