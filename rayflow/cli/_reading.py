"""Shared by the commands that read past runs (runs, show, logs, tag, compare).

They read through the client API, in every namespace unless asked otherwise, from the datastore
given by ``--datastore`` (else ``RAYFLOW_DATASTORE`` or the nearest ``.rayflow/``). A missing
flow, run, step, task or artifact is one line ``error: ...`` on stderr and exit status 1, both
from the ``rayflow`` entry point and from click's own runner (hence ``sys.exit``).
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from .._errors import USER_ERRORS


def datastore_option() -> Any:
    return click.option(
        "--datastore",
        default=None,
        metavar="URL",
        help="Datastore to read (default: $RAYFLOW_DATASTORE or the nearest .rayflow/).",
    )


@contextmanager
def reading(datastore: str | None, namespace: str | None = None) -> Iterator[None]:
    """Point the client at ``datastore`` and ``namespace`` for one command, then restore both."""
    from .. import _namespace as ns

    saved = dict(ns._settings)
    try:
        if datastore:
            ns.metadata(datastore)
        ns.namespace(namespace)
        yield
    except (*USER_ERRORS, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        click.echo(f"error: {message}", err=True)
        # SystemExit, not click's Exit: click swallows Exit when not in standalone mode (main()).
        sys.exit(1)
    finally:
        ns._settings.clear()
        ns._settings.update(saved)


def _seconds(value: Any) -> float | None:
    """Epoch seconds of a record's float or of the client's datetime."""
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    return value or None


def when(ts: Any) -> str:
    ts = _seconds(ts)
    if not ts:
        return "-"
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def duration(start: Any, end: Any) -> str:
    start, end = _seconds(start), _seconds(end)
    if not start or not end:
        return "-"
    s = max(0.0, end - start)
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={short(v, 30)}" for k, v in params.items())


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def print_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None
) -> None:
    """A rich table on stdout; wide enough not to fold cells when stdout is not a terminal."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    tty = sys.stdout.isatty()
    width = None if tty else int(os.environ.get("COLUMNS", "0") or 0) or 240
    console = Console(file=sys.stdout, width=width, highlight=False, soft_wrap=False)
    table = Table(*columns, title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    console.print(table)


__all__ = [
    "datastore_option",
    "duration",
    "human_size",
    "params_text",
    "print_table",
    "reading",
    "short",
    "when",
]
