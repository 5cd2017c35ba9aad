"""Flows and card types of the card tests (a module of its own: it is shipped by value, as a
flow file run as a script is, so its card types must travel with the steps)."""

from __future__ import annotations

import time

from rayflow import FlowSpec, card, catch, current, step
from rayflow.cards import Markdown, MetaflowCard, Table


class ShoutCard(MetaflowCard):
    type = "shout_card"

    def render(self, task):
        return f"<b>{task.data.word.upper()}</b> {task['word'].data} {'word' in task}"


class BrokenCard(MetaflowCard):
    type = "broken_card"

    def render(self, task):
        raise ValueError("the card's own bug")


class SlowCard(MetaflowCard):
    type = "slow_card"

    def render(self, task):
        time.sleep(3)
        return "too late"


class JoinedCard(MetaflowCard):
    """Not editable: reached only through its id."""

    type = "joined_card"

    def render(self, task):
        return "|".join(self._components)


class CardsFlow(FlowSpec):
    @card
    @card(type="blank", id="notes")
    @card(type="shout_card")
    @card(type="broken_card")
    @card(type="broken_card", id="quiet", save_errors=False)
    @card(type="no_such_type")
    @step
    def start(self):
        self.word = "hello"
        self.items = [1, 2]
        current.card.append(Markdown("**bold** <script>alert(1)</script>"))
        current.card.append("not a component")  # left out, as in Metaflow
        current.card["notes"].append(Table([[1, "a"]], headers=["n", "s"]))
        self.next(self.fan, foreach="items")

    @card(type="taskspec_card")
    @step
    def fan(self):
        self.square = self.input**2
        self.next(self.join)

    @catch(var="failure")
    @card(type="taskspec_card")
    @step
    def join(self, inputs):
        self.total = sum(i.square for i in inputs)
        if self.total > 0:
            raise ValueError("caught by @catch")
        self.next(self.end)

    @card(type="slow_card", timeout=1, save_errors=False)
    @card(type="slow_card", id="late", timeout=1)
    @card(type="joined_card", id="j")
    @step
    def end(self):
        current.card["j"].append(Markdown("*one*"))
        current.card["j"].extend([Markdown("two")])
        current.card.append(Markdown("lost"))  # no editable card here: goes nowhere
        self.seen = [
            len(current.card.get(type="joined_card")),
            len(current.card.get(type="nope")),
            len(current.card.get(id="j")),
        ]
