"""The card types Metaflow ships for its own tests (``test_*``), so flows and checkers written
against them run unchanged; loaded only when a step names one of them."""

from __future__ import annotations

import random
import string
import time
from typing import Any

from ._components import MetaflowCardComponent
from ._types import MetaflowCard


class TestStringComponent(MetaflowCardComponent):
    """A component that renders as its text, unchanged."""

    def __init__(self, text: Any) -> None:
        self._text = text

    def update(self, text: Any) -> None:
        self._text = text

    def render(self) -> str:
        return str(self._text)


class TestPathSpecCard(MetaflowCard):
    """The task's pathspec and a random suffix (two such cards of a step differ)."""

    type = "test_pathspec_card"

    def render(self, task: Any) -> str:
        suffix = "".join(random.choice(string.ascii_uppercase + string.digits) for _ in range(6))
        return f"{task.pathspec} {suffix}"


class TestEditableCard(MetaflowCard):
    """The appended components' output, joined by ``options['separator']`` (default: none)."""

    type = "test_editable_card"
    ALLOW_USER_COMPONENTS = True

    def render(self, task: Any) -> str:
        return str(self.options.get("separator", "")).join(str(c) for c in self._components)


class TestEditableCard2(TestEditableCard):
    type = "test_editable_card_2"


class TestNonEditableCard(MetaflowCard):
    type = "test_non_editable_card"

    def render(self, task: Any) -> str:
        return str(self.options.get("separator", "")).join(str(c) for c in self._components)


class TestErrorCard(MetaflowCard):
    """Always fails to render (an error card is stored instead, unless ``save_errors=False``)."""

    type = "test_error_card"

    def render(self, task: Any) -> str:
        raise Exception("Unknown Things Happened")


class TestTimeoutCard(MetaflowCard):
    """Renders the pathspec after ``options['timeout']`` seconds (past the card's timeout)."""

    type = "test_timeout_card"

    def render(self, task: Any) -> str:
        time.sleep(float(self.options.get("timeout", 50)))
        return f"{task.pathspec}"
