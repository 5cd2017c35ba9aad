"""``rayflow gc [--datastore URL] [--dry-run] [--min-age AGE]``: remove what nothing needs.

Temp files of writers that died before their rename, and blobs no run or task record points
at (``rayflow.datastore.gc`` says exactly what is kept). Only files older than ``--min-age``
(default 1h) are touched, so runs in progress keep what they are writing.
"""

from __future__ import annotations

import re

import click

from ._reading import datastore_option, human_size

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class AgeType(click.ParamType):
    name = "AGE"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        match = _AGE.match(str(value))
        if not match:
            self.fail(f"{value!r} is not an age such as 90s, 30m, 1h or 2d", param, ctx)
        return float(match.group(1)) * _UNIT[match.group(2)]


@click.command("gc")
@datastore_option()
@click.option(
    "--dry-run", is_flag=True, help="List what would be removed (and its size); remove nothing."
)
@click.option(
    "--min-age",
    type=AgeType(),
    default="1h",
    show_default=True,
    help="Leave files younger than this (e.g. 30m, 2h, 1d): a running task may still need them.",
)
def gc_command(datastore: str | None, dry_run: bool, min_age: float) -> None:
    """Remove leftover temp files and blobs that no run, task or cache entry references."""
    from rayflow.datastore import default_url, gc, open_storage

    storage = open_storage(datastore or default_url())
    found = gc.collect(storage, min_age=min_age)
    verb = "would remove" if dry_run else "removed"
    for item in found.garbage:
        click.echo(f"{verb} {item.kind} {item.path} ({human_size(item.size)})")
    for note in found.kept:
        click.echo(f"note: {note}", err=True)
    if not dry_run:
        gc.remove(storage, found.garbage)
    temps = sum(1 for g in found.garbage if g.kind == "temp file")
    click.echo(
        f"{storage.url}: {verb} {temps} temp file(s) and {len(found.garbage) - temps} "
        f"unreferenced blob(s), {human_size(found.bytes)}"
    )
