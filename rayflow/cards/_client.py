"""Reading cards back: ``get_cards(task)`` returns the task's cards, as Metaflow's does.

A task cloned by ``resume`` (or taken from the cache) ran no code in its run; its cards are
those of the task it was cloned from (``follow_resumed=True``, the default), as its logs are.
The HTML of a card is read when first asked for (``get()``, ``html``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

from rayflow.datastore import cards as card_files
from rayflow.datastore import paths


class Card:
    """One stored card: ``type``, ``id``, ``hash``, ``path``; ``get()`` (or ``html``) is its HTML."""

    def __init__(
        self,
        storage: Any,
        location: tuple[str, str, str, str],
        found: card_files.CardFile,
        origin_pathspec: str | None = None,
    ) -> None:
        self._storage = storage
        self._location = location
        self._file = found
        self._html: str | None = None
        self.type = found.type
        self.id = found.id
        self.hash = found.hash
        self.from_resumed = origin_pathspec is not None
        self.origin_pathspec = origin_pathspec

    @property
    def path(self) -> str:
        """Where the card is stored, relative to the datastore root."""
        return paths.card_file(*self._location, self._file.name)

    def get(self) -> str:
        if self._html is None:
            self._html = card_files.read_card(self._storage, *self._location, self._file.name)
        return self._html

    html = property(get)

    def get_data(self) -> dict | None:
        """Runtime data of a card (Metaflow's live cards): rayflow cards have none."""
        return None

    def view(self) -> str:
        """Open the card in a web browser (from a temporary file, whose path is returned)."""
        import webbrowser

        fd, name = tempfile.mkstemp(prefix=f"card-{self.type}-", suffix=".html")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.get())
        webbrowser.open("file://" + name)
        return name

    def _repr_html_(self) -> str:
        return f"<div class='embed'>{self.get()}</div>"

    def __str__(self) -> str:
        return f"<Card at '{self.path}'>"

    __repr__ = __str__


class CardContainer:
    """An immutable list of ``Card``s (``len``, index, iteration); shows them all in a notebook."""

    def __init__(self, cards: list[Card], origin_pathspec: str | None = None) -> None:
        self._cards = list(cards)
        self.from_resumed = origin_pathspec is not None
        self.origin_pathspec = origin_pathspec

    def __len__(self) -> int:
        return len(self._cards)

    def __iter__(self) -> Iterator[Card]:
        return iter(self._cards)

    def __getitem__(self, index: int) -> Card:
        return self._cards[index]

    def _repr_html_(self) -> str:
        return "\n".join(
            f"<h1>Displaying Card Of Type : {c.type.title()}</h1>{c._repr_html_()}"
            for c in self._cards
        )

    def __repr__(self) -> str:
        return f"CardContainer({self._cards!r})"


def get_cards(
    task: Any, id: str | None = None, type: str | None = None, follow_resumed: bool = True
) -> CardContainer:
    """The cards of ``task`` (a client ``Task`` or its pathspec ``Flow/run/step/task_id``),
    those of one ``id`` or ``type`` when given; an empty container when it has none."""
    from .._client import Task
    from .._namespace import storage

    if isinstance(task, str):
        if len(task.strip("/").split("/")) != 4:
            from .._client import NotFound

            raise NotFound(
                f"get_cards needs a task pathspec Flow/run_id/step/task_id, got {task!r}"
            )
        task = Task(task.strip("/"), _namespace_check=False)
    elif not isinstance(task, Task):
        from .._errors import RayflowError

        raise RayflowError(
            f"get_cards takes a Task or a task pathspec, not {task.__class__.__name__}"
        )
    record = task._load()
    location = (record.flow, record.run_id, record.step, record.task_id)
    origin = None
    if follow_resumed and record.origin and record.origin.get("pathspec"):
        origin = record.origin["pathspec"]
        location = tuple(origin.split("/"))  # type: ignore[assignment]
    store = storage()
    found = [
        c
        for c in card_files.list_cards(store, *location)
        if (id is None or c.id == id) and (type is None or c.type == type)
    ]
    return CardContainer([Card(store, location, c, origin) for c in found], origin)
