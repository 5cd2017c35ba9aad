"""``rayflow compare Flow/run_a run_b ...``: parameters and scalar results side by side.

Rows are the runs' parameters, then every scalar artifact (number, string, bool, None) of their
``end`` task; ``*`` marks the rows whose values differ. Artifacts stored larger than 64 KB are
not loaded (they are not scalars).
"""

from __future__ import annotations

import numbers
from typing import Any

import click

from ._reading import datastore_option, print_table, reading, short

_MAX_SCALAR_BYTES = 1 << 16
_MISSING = object()


def _scalars(run: Any) -> dict[str, Any]:
    from rayflow.datastore import BlobStore, unpickle

    from .. import _namespace as ns

    task = run.end_task
    if task is None:
        return {}
    blobs = BlobStore(ns.storage(), run.flow_name)
    out: dict[str, Any] = {}
    params = set(run.parameters)
    for name, key in sorted(task.artifact_keys.items()):
        if name in params or name.startswith("_"):
            continue
        data = blobs.get_payload(key, f"{task.pathspec}/{name}")
        if data.nbytes > _MAX_SCALAR_BYTES:
            continue
        try:
            value = unpickle(data)
        except Exception:  # noqa: BLE001 - an artifact whose class is gone is not comparable
            continue
        if value is None or isinstance(value, (str, bool, numbers.Number)):
            out[name] = value
    return out


def resolve_runs(specs: tuple[str, ...]) -> list[Any]:
    """``Flow/run_id`` each; a bare run id belongs to the flow named before it."""
    from .._client import NotFound, Run

    runs, flow = [], None
    for spec in specs:
        if "/" in spec.strip("/"):
            flow = spec.strip("/").split("/")[0]
            runs.append(Run(spec))
        elif flow is None:
            raise NotFound(f"run {spec!r}: name its flow, e.g. MyFlow/{spec}")
        else:
            runs.append(Run(f"{flow}/{spec}"))
    return runs


@click.command("compare")
@click.argument("specs", nargs=-1, required=True, metavar="FLOW/RUN_ID [RUN_ID|FLOW/RUN_ID]...")
@datastore_option()
def compare_command(specs: tuple[str, ...], datastore: str | None) -> None:
    """Compare runs: parameters and scalar artifacts of their end step, side by side."""
    with reading(datastore):
        runs = resolve_runs(specs)
        rows: list[list[str]] = [["", "status", *[r.status for r in runs]]]
        for kind, columns in (
            ("param", [r.parameters for r in runs]),
            ("artifact", [_scalars(r) for r in runs]),
        ):
            names: list[str] = []
            for col in columns:
                names += [n for n in col if n not in names]
            for name in names:
                values = [col.get(name, _MISSING) for col in columns]
                shown = ["-" if v is _MISSING else short(v, 40) for v in values]
                differs = len({repr(v) for v in values}) > 1
                rows.append(["*" if differs else "", f"{kind} {name}", *shown])
        header = [
            "",
            "",
            *[r.pathspec if len({x.flow_name for x in runs}) > 1 else r.id for r in runs],
        ]
        print_table(header, rows)
