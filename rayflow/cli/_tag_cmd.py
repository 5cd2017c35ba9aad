"""``rayflow tag add|remove|list Flow/run_id TAG...``: a run's user tags, kept in its run.json."""

from __future__ import annotations

import click

from ._reading import datastore_option, reading


@click.group("tag")
def tag_group() -> None:
    """Add, remove or list the tags of a run."""


def _show(pathspec: str, tags: frozenset[str]) -> None:
    click.echo(f"{pathspec}: {', '.join(sorted(tags)) if tags else '(no tags)'}")


@tag_group.command("add")
@click.argument("pathspec", metavar="FLOW/RUN_ID")
@click.argument("tags", nargs=-1, required=True, metavar="TAG...")
@datastore_option()
def tag_add(pathspec: str, tags: tuple[str, ...], datastore: str | None) -> None:
    """Add TAGs to a run."""
    from .._client import Run

    with reading(datastore):
        run = Run(pathspec)
        for tag in sorted(set(tags) & run.system_tags):
            click.echo(
                f"note: '{tag}' is already a system tag of {run.pathspec}; not added", err=True
            )
        _show(run.pathspec, run.add_tags(tags))


@tag_group.command("remove")
@click.argument("pathspec", metavar="FLOW/RUN_ID")
@click.argument("tags", nargs=-1, required=True, metavar="TAG...")
@datastore_option()
def tag_remove(pathspec: str, tags: tuple[str, ...], datastore: str | None) -> None:
    """Remove TAGs from a run (system tags such as user:NAME stay)."""
    from .._client import Run

    with reading(datastore):
        run = Run(pathspec)
        _show(run.pathspec, run.remove_tags(tags))


@tag_group.command("list")
@click.argument("pathspec", metavar="FLOW/RUN_ID")
@datastore_option()
def tag_list(pathspec: str, datastore: str | None) -> None:
    """Print a run's tags."""
    from .._client import Run

    with reading(datastore):
        run = Run(pathspec)
        _show(run.pathspec, run.user_tags)
