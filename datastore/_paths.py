"""Every storage path of the datastore is built here and nowhere else.

Keeping the layout in one module means the on-disk format can be read (and changed) in one place:

    <Flow>/runs/<run_id>/run.json | heartbeat.json
    <Flow>/tag-events/<run_id>.<time>-<random>.json   (one per tag mutation)
    <Flow>/runs/<run_id>/<step>/<task_id>/meta.json | stdout | stderr   (DONE: format 1 only)
    <Flow>/runs/<run_id>/done-pages/<step>.<n>.json   (copies of finished records, ``_pages``)
    <Flow>/blobs/<k[:2]>/<k>

Attempts after the first keep their own files (``meta.1.json``, ``stdout.1``...) so the logs and
exception of every attempt survive a retry.
"""

from __future__ import annotations

import re

from ._errors import InvalidNameError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_TASK_ID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_KEY = re.compile(r"^[0-9a-f]{16,128}$")


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it is a Python identifier (flows, steps, artifacts), else raise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidNameError(f"invalid {kind} name {name!r}: use letters, digits and '_'")
    return name


def is_name(name: str) -> bool:
    return isinstance(name, str) and bool(_NAME.fullmatch(name))


def is_key(name: str) -> bool:
    """Whether ``name`` has the shape of a blob key (hex of a content hash)."""
    return isinstance(name, str) and bool(_KEY.fullmatch(name))


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise InvalidNameError(f"invalid run id {run_id!r}")
    return run_id


def is_run_id(run_id: str) -> bool:
    return isinstance(run_id, str) and bool(_RUN_ID.fullmatch(run_id)) and ".." not in run_id


def check_task_id(task_id: str) -> str:
    if not isinstance(task_id, str) or not _TASK_ID.fullmatch(task_id):
        raise InvalidNameError(f"invalid task id {task_id!r}")
    return task_id


def flow_dir(flow: str) -> str:
    return check_name("flow", flow)


def runs_dir(flow: str) -> str:
    return f"{flow_dir(flow)}/runs"


def run_dir(flow: str, run_id: str) -> str:
    return f"{runs_dir(flow)}/{check_run_id(run_id)}"


def run_file(flow: str, run_id: str) -> str:
    return f"{run_dir(flow, run_id)}/run.json"


def heartbeat_file(flow: str, run_id: str) -> str:
    """Rewritten by a running run's driver every few seconds (``datastore._liveness``).

    Its name is not an identifier, so it can never be a step's folder.
    """
    return f"{run_dir(flow, run_id)}/heartbeat.json"


def tag_events_dir(flow: str) -> str:
    """The tag mutations of every run of the flow, one object each (``datastore._tags``): one
    folder per flow, so listing a flow's runs finds all their mutations in one listing."""
    return f"{flow_dir(flow)}/tag-events"


def tag_event_file(flow: str, run_id: str, name: str) -> str:
    """``<run_id>.<name>``: the run's events sort together, by time."""
    if not re.fullmatch(r"[0-9]{20}-[0-9a-f]{12}\.json", name):
        raise InvalidNameError(f"invalid tag event name {name!r}")
    return f"{tag_events_dir(flow)}/{check_run_id(run_id)}.{name}"


def pages_dir(flow: str, run_id: str) -> str:
    """Done pages of a run (``datastore._pages``). Not an identifier: never a step's folder."""
    return f"{run_dir(flow, run_id)}/done-pages"


def page_file(flow: str, run_id: str, step: str, number: int) -> str:
    return f"{pages_dir(flow, run_id)}/{check_name('step', step)}.{int(number)}.json"


def step_dir(flow: str, run_id: str, step: str) -> str:
    return f"{run_dir(flow, run_id)}/{check_name('step', step)}"


def task_dir(flow: str, run_id: str, step: str, task_id: str) -> str:
    return f"{step_dir(flow, run_id, step)}/{check_task_id(task_id)}"


def done_file(flow: str, run_id: str, step: str, task_id: str) -> str:
    """Format 1's done marker: read in datastores written before format 2, never written now."""
    return f"{task_dir(flow, run_id, step, task_id)}/DONE"


def meta_file(flow: str, run_id: str, step: str, task_id: str, attempt: int = 0) -> str:
    name = "meta.json" if attempt == 0 else f"meta.{int(attempt)}.json"
    return f"{task_dir(flow, run_id, step, task_id)}/{name}"


def log_file(flow: str, run_id: str, step: str, task_id: str, stream: str, attempt: int = 0) -> str:
    if stream not in ("stdout", "stderr"):
        raise InvalidNameError(f"invalid log stream {stream!r}")
    name = stream if attempt == 0 else f"{stream}.{int(attempt)}"
    return f"{task_dir(flow, run_id, step, task_id)}/{name}"


def blob_file(flow: str, key: str) -> str:
    if not _KEY.fullmatch(key):
        raise InvalidNameError(f"invalid blob key {key!r}")
    return f"{flow_dir(flow)}/blobs/{key[:2]}/{key}"


def cache_file(flow: str, step: str, key: str) -> str:
    """Index entry of the cross-run cache: one small file per (step, cache key)."""
    if not _KEY.fullmatch(key):
        raise InvalidNameError(f"invalid cache key {key!r}")
    return f"{flow_dir(flow)}/cache/{check_name('step', step)}/{key}.json"


_CARD_NAME = re.compile(r"^[0-9]{2}\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*\.[0-9a-f]{8,64}\.html$")


def cards_dir(flow: str, run_id: str, step: str, task_id: str) -> str:
    """The task's cards (``@card``), one HTML file each, beside its record."""
    return f"{task_dir(flow, run_id, step, task_id)}/cards"


def card_file(flow: str, run_id: str, step: str, task_id: str, name: str) -> str:
    if not _CARD_NAME.fullmatch(name):
        raise InvalidNameError(f"invalid card file name {name!r}")
    return f"{cards_dir(flow, run_id, step, task_id)}/{name}"
