"""Resume from the API side: reuse the origin's parameters, refuse different ones, then run."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rayflow.datastore import BlobCorruptError, BlobMissingError, BlobStore, open_storage

from ._configs import flow_configs
from ._configuse import ConfigInput
from ._errors import ParameterError, ResumeError
from ._launching import new_request
from ._parameters import flow_parameters
from ._prepare import plan_for

if TYPE_CHECKING:
    from rayflow.scheduler import RunRequest


def _origin_value(blobs: BlobStore, flow: str, origin: str, attr: str, key: str) -> Any:
    """A parameter value of the origin run; a damaged or missing blob names the parameter."""
    try:
        return blobs.get(key)
    except (BlobCorruptError, BlobMissingError) as exc:
        raise ResumeError(
            f"parameter '{attr}' of run {flow}/{origin} cannot be read ({exc}); "
            "resume another run with --origin-run-id, or start a new run "
            "(it rewrites the value)"
        ) from None


def _origin_configs(
    flow_cls: type, datastore: str, origin_run_id: str | None
) -> ConfigInput | None:
    """The Config values the origin run recorded: a resume sees the flow its origin saw."""
    if not flow_configs(flow_cls):
        return None
    from rayflow.datastore import records
    from rayflow.scheduler._resume import latest_run

    storage = open_storage(datastore)
    try:
        if origin_run_id is None:
            record = latest_run(storage, flow_cls.__name__)[1]
        else:
            record = records.read_run(storage, flow_cls.__name__, origin_run_id)
    except Exception:  # noqa: BLE001 - prepare_resume names a missing or damaged origin run
        return None
    stored = record.get("configs")
    return ConfigInput(stored=stored) if isinstance(stored, dict) else None


def resume_run(flow_cls: type, flow_file: str | None, **how: Any) -> Any:
    """Launch the resume; ``how`` is what ``resume_request`` takes (datastore, origin, step,
    parameters, and ``RunRequest`` fields such as cache, max_num_splits, tags...)."""
    from rayflow.scheduler import launch

    return launch(resume_request(flow_cls, flow_file, **how))


def resume_request(
    flow_cls: type,
    flow_file: str | None,
    *,
    datastore: str,
    origin_run_id: str | None = None,
    step: str | None = None,
    given_params: dict[str, Any] | None = None,
    with_: tuple[str, ...] = (),
    notify: Callable[[str], None] | None = None,
    **fields: Any,
) -> RunRequest:
    """The request that resumes the origin run (default: the flow's latest): its parameters,
    the steps to re-run; a different value for a parameter is refused."""
    from rayflow.scheduler._resume import prepare_resume

    flow = flow_cls.__name__
    _, plan = plan_for(flow_cls, with_, _origin_configs(flow_cls, datastore, origin_run_id))
    record, rerun, notes = prepare_resume(datastore, flow, plan, origin_run_id, step)
    origin = record["run_id"]
    storage = open_storage(datastore)
    blobs = BlobStore(storage, flow)
    keys = dict(record.get("parameter_keys") or {})
    values = {attr: _origin_value(blobs, flow, origin, attr, key) for attr, key in keys.items()}
    params = {p.attr: p for p in flow_parameters(flow_cls)}
    by_name = {**{p.name: p for p in params.values()}, **params}
    for name, raw in (given_params or {}).items():
        if raw is None:
            continue
        p = by_name.get(name)
        if p is None:
            raise ParameterError(f"unknown parameter --{name} for {flow}")
        value = p.convert(raw)
        if p.attr in values and values[p.attr] != value:
            raise ResumeError(
                f"parameter --{p.name}: resume reuses the origin run's value {values[p.attr]!r} "
                f"(run {flow}/{origin}); start a new run to use {value!r}"
            )
    for attr, p in params.items():
        if attr not in keys:
            values[attr] = p.resolve_default()
            keys[attr] = blobs.put(attr, values[attr])
    say = notify or (lambda text: None)
    say(f"resuming {flow}/{origin}" + (f", re-running '{step}' and what follows" if step else ""))
    for note in notes:
        say(f"  note: {note}")
    return new_request(
        flow_cls,
        flow_file,
        plan,
        values,
        datastore,
        origin_run_id=origin,
        rerun=set(rerun),
        param_keys=keys,
        **fields,
    )
