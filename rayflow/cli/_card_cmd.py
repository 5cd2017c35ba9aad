"""``python flow.py card get|list|view``: Metaflow's card commands, with its options.

A PATHSPEC is ``STEP`` (the flow's latest run), ``RUN_ID/STEP`` or ``RUN_ID/STEP/TASK_ID``;
``--type``, ``--id`` and ``--hash`` (a part of the card's hash) choose among the task's cards.
``get`` prints one card's HTML (or saves it in FILE); when several match, it lists them, as
Metaflow does. No card at all is ``error: Card not found in datastore ...`` and exit 1.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ._reading import reading


def _task(flow_name: str, pathspec: str) -> Any:
    from .._client import Flow, NotFound, Step, Task

    parts = pathspec.strip("/").split("/")
    if len(parts) == 1:
        run = Flow(flow_name).latest_run
        if run is None:
            raise NotFound(f"flow {flow_name} has no run to find step '{parts[0]}' in")
        return Step(f"{run.pathspec}/{parts[0]}").task
    if len(parts) == 2:
        return Step(f"{flow_name}/{pathspec.strip('/')}").task
    if len(parts) == 3:
        return Task(f"{flow_name}/{pathspec.strip('/')}")
    raise NotFound(f"PATHSPEC is STEP, RUN_ID/STEP or RUN_ID/STEP/TASK_ID, got {pathspec!r}")


def _cards(
    flow_name: str,
    pathspec: str,
    type_: str | None,
    id_: str | None,
    hash_: str | None,
    follow_resumed: bool,
) -> tuple[str, list[Any]]:
    from .._errors import CardNotPresentException
    from ..cards import get_cards

    task = _task(flow_name, pathspec)
    found = get_cards(task, id=id_, type=type_, follow_resumed=follow_resumed)
    cards = [c for c in found if hash_ is None or hash_ in c.hash]
    if not cards:
        wanted = ", ".join(
            f"{k} {v}" for k, v in (("type", type_), ("id", id_), ("hash", hash_)) if v
        )
        raise CardNotPresentException(
            f"{CardNotPresentException.headline}: no card of task "
            f"{found.origin_pathspec or task.pathspec}"
            f"{' with ' + wanted if wanted else ''}"
        )
    return found.origin_pathspec or task.pathspec, cards


def _describe(pathspec: str, cards: list[Any]) -> None:
    click.echo(f"Found {len(cards)} cards of task {pathspec}:", err=True)
    for c in cards:
        click.echo(f"  Card Id: {c.id}  Type: {c.type}  Hash: {c.hash}  Path: {c.path}", err=True)


def _choose_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option("--hash", "hash_", default=None, help="(A part of) the card's hash."),
            click.option("--type", "type_", default=None, help="Only cards of this type."),
            click.option("--id", "id_", default=None, help="Only the card with this id."),
            click.option(
                "--follow-resumed/--no-follow-resumed",
                default=True,
                show_default=True,
                help="For a task cloned by resume, the cards of the task it was cloned from.",
            ),
        ]
    ):
        func = option(func)
    return func


def make_card(flow_cls: type) -> click.Group:
    name = flow_cls.__name__

    @click.group("card")
    def card() -> None:
        """Read the cards (``@card``) of the flow's tasks."""

    @card.command("get")
    @click.argument("pathspec")
    @click.argument("path", required=False)
    @_choose_options
    @click.pass_context
    def card_get(
        ctx: click.Context,
        pathspec: str,
        path: str | None,
        hash_: str | None,
        type_: str | None,
        id_: str | None,
        follow_resumed: bool,
    ) -> None:
        """Print a card's HTML, or save it in PATH."""
        with reading(_root(ctx).get("datastore")):
            where, cards = _cards(name, pathspec, type_, id_, hash_, follow_resumed)
            if len(cards) > 1:
                _describe(where, cards)
                click.echo("  Choose one with --hash, --type or --id.", err=True)
                return
            html = cards[0].get()
        _write_or_echo(html, path)

    @card.command("list")
    @click.argument("pathspec", required=False)
    @_choose_options
    @click.option("--as-json", is_flag=True, help="Print the list as JSON.")
    @click.option("--file", "out_file", default=None, help="Save the list (JSON) in this file.")
    @click.pass_context
    def card_list(
        ctx: click.Context,
        pathspec: str | None,
        hash_: str | None,
        type_: str | None,
        id_: str | None,
        follow_resumed: bool,
        as_json: bool,
        out_file: str | None,
    ) -> None:
        """List the cards of a task (of every task of the latest run without PATHSPEC)."""
        with reading(_root(ctx).get("datastore")):
            found = _collect(name, pathspec, type_, id_, hash_, follow_resumed)
        if pathspec is None and not found:
            _no_card_in_latest_run(name)
        _print_listing(found, pathspec, as_json, out_file)

    @card.command("view")
    @click.argument("pathspec")
    @_choose_options
    @click.pass_context
    def card_view(
        ctx: click.Context,
        pathspec: str,
        hash_: str | None,
        type_: str | None,
        id_: str | None,
        follow_resumed: bool,
    ) -> None:
        """Open a card in the web browser (several matching: list them)."""
        with reading(_root(ctx).get("datastore")):
            where, cards = _cards(name, pathspec, type_, id_, hash_, follow_resumed)
            if len(cards) > 1:
                _describe(where, cards)
                return
            click.echo(f"opening {cards[0].view()}", err=True)

    return card


def _root(ctx: click.Context) -> dict:
    return ctx.find_root().obj or {}


def _pathspecs(flow_name: str, pathspec: str | None) -> list[str]:
    if pathspec is not None:
        return [pathspec]
    from .._client import Flow

    run = Flow(flow_name).latest_run
    if run is None:
        return []
    return [f"{run.id}/{t.step_name}/{t.id}" for step in run for t in step]


def _collect(
    flow_name: str,
    pathspec: str | None,
    type_: str | None,
    id_: str | None,
    hash_: str | None,
    follow_resumed: bool,
) -> list[tuple[str, list[Any]]]:
    """The matching cards of PATHSPEC, or of every task of the latest run (those without a
    matching card skipped)."""
    found = []
    for spec in _pathspecs(flow_name, pathspec):
        try:
            found.append(_cards(flow_name, spec, type_, id_, hash_, follow_resumed))
        except Exception:
            if pathspec is not None:
                raise
    return found


def _print_listing(
    found: list[tuple[str, list[Any]]], pathspec: str | None, as_json: bool, out_file: str | None
) -> None:
    """``card list``'s output: JSON in a file, JSON on stdout, or the human listing on stderr."""
    listed = [
        {
            "pathspec": where,
            "cards": [
                {
                    "id": c.id,
                    "hash": c.hash,
                    "type": c.type,
                    "filename": c.path.rsplit("/", 1)[-1],
                }
                for c in cards
            ],
        }
        for where, cards in found
    ]
    data: Any = listed[0] if pathspec is not None else listed
    if out_file:
        with open(out_file, "w", encoding="utf-8") as f:
            json.dump(data, f)
    elif as_json:
        click.echo(json.dumps(data, indent=4))
    else:
        for where, cards in found:
            _describe(where, cards)


def _no_card_in_latest_run(flow_name: str) -> None:
    """Called after ``reading()`` has ended, so the exception reaches the top-level handler."""
    from .._errors import CardNotPresentException

    raise CardNotPresentException(
        f"{CardNotPresentException.headline}: no card in the latest run of {flow_name}"
    )


def _write_or_echo(html: str, path: str | None) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(html)
    else:
        click.echo(html)
