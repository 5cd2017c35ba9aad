"""Metaflow card components, accepted so flows that build cards run unchanged.

rayflow does not render cards (``@card`` is accepted and ignored); components appended to
``current.card`` are kept in memory for the step and dropped.
"""

from __future__ import annotations

from typing import Any


class MetaflowCardComponent:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.args = args or self.args
        self.kwargs.update(kwargs)

    def render(self) -> str:
        return ""


class Markdown(MetaflowCardComponent):
    pass


class Table(MetaflowCardComponent):
    @classmethod
    def from_dataframe(cls, dataframe: Any, **kwargs: Any) -> Table:
        return cls(dataframe, **kwargs)


class Image(MetaflowCardComponent):
    @classmethod
    def from_matplotlib(cls, plot: Any, **kwargs: Any) -> Image:
        return cls(plot, **kwargs)

    @classmethod
    def from_pil_image(cls, pilimage: Any, **kwargs: Any) -> Image:
        return cls(pilimage, **kwargs)


class Artifact(MetaflowCardComponent):
    pass


class VegaChart(MetaflowCardComponent):
    @classmethod
    def from_altair_chart(cls, chart: Any) -> VegaChart:
        return cls(chart)


class ProgressBar(MetaflowCardComponent):
    pass


class Error(MetaflowCardComponent):
    pass


class CardCollector:
    """``current.card``: append/extend/clear/refresh and ``current.card['id']`` all accepted."""

    def __init__(self) -> None:
        self.components: list[Any] = []

    def append(self, component: Any, id: str | None = None) -> None:
        self.components.append(component)

    def extend(self, components: list[Any]) -> None:
        self.components.extend(components)

    def clear(self) -> None:
        self.components.clear()

    def refresh(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getitem__(self, key: str) -> CardCollector:
        return self

    def __setitem__(self, key: str, value: Any) -> None:
        self.components = list(value) if isinstance(value, list) else [value]

    def __iter__(self):
        return iter(self.components)


class CardNotPresentException(Exception):
    """No card was stored for the task (rayflow stores no cards yet), as Metaflow names it."""

    headline = "Card not found in datastore"


def get_cards(task: Any, id: str | None = None, type: str | None = None,
              follow_resumed: bool = True) -> list[Any]:
    """Metaflow's ``get_cards``: rayflow renders and stores no cards, so there is never one to
    return; raises ``CardNotPresentException`` naming the task."""
    pathspec = task if isinstance(task, str) else getattr(task, "pathspec", str(task))
    raise CardNotPresentException(f"{CardNotPresentException.headline}: task {pathspec} has no "
                                  "cards (rayflow does not store cards)")
