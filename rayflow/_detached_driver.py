"""The driver of a detached run: the entrypoint of its Ray job, running on the cluster.

``python -m rayflow._detached_driver SPEC`` (SPEC: ``rayflow._detach.encode_spec``) runs in the
job's working_dir, the flow's shipped folder. It checks that this side runs the Python and
rayflow versions of the machine that submitted the run, loads the flow, builds the
``RunRequest`` (a new run, or a resume of the origin named in the spec) and calls ``launch``,
joining the cluster it runs on (``RAY_ADDRESS``, set by Ray for the job). Its output is the
job's log: the run's progress and each task's output, as on a terminal.

An error before the run is recorded (other versions, a flow that does not load here) still
leaves a run.json, status ``failed`` with the one-line ``error``, so ``rayflow status`` shows
it from any machine. Stopping the job (``rayflow cancel``) sends SIGTERM: the run ends as an
interrupted run does, and is then recorded ``cancelled``.
"""

from __future__ import annotations

import json
import platform
import signal
import sys
import time
from typing import Any

from rayflow.datastore import BlobStore, DatastoreError, open_storage, records

from ._detach import decode_spec, local_versions
from ._errors import USER_ERRORS


def version_problem(submitted: dict[str, Any], here: dict[str, Any]) -> str | None:
    """One line naming the versions that differ between the submitting machine and this one."""
    names = {"python": "Python", "ray": "Ray", "rayflow": "rayflow"}
    differ = [
        f"{names[k]} {here.get(k)} (submitted from {submitted.get(k)})"
        for k in names
        if submitted.get(k) and here.get(k) and submitted[k] != here[k]
    ]
    if not differ:
        return None
    return (
        "the cluster runs " + ", ".join(differ) + "; install the same versions on the "
        "cluster and on the machine that submits"
    )


def record_refused(spec: dict[str, Any], line: str) -> None:
    """A failed run.json carrying ``line`` when the run could not start (best effort: the
    datastore may be what is wrong)."""
    flow, run_id = spec["flow_class"], spec["run_id"]
    now = time.time()
    facts = dict(spec.get("facts") or {})
    record = {
        "flow": flow,
        "run_id": run_id,
        "status": "failed",
        "error": line,
        "user": facts.get("user"),
        "tags": list(spec["fields"].get("tags") or ()),
        "system_tags": [],
        "parameters": spec.get("params", {}),
        "created_at": now,
        "finished_at": now,
        "origin_run_id": (spec.get("resume") or {}).get("origin_run_id"),
        "host": platform.node(),
        "detached": spec["detached"],
        "flow_file": spec["detached"]["flow_file"],
    }
    try:
        storage = open_storage(spec["datastore"])
        if not records.run_exists(storage, flow, run_id):
            records.create_run(storage, flow, run_id, record)
    except (OSError, DatastoreError):
        pass


def build_request(spec: dict[str, Any]) -> Any:
    """The ``RunRequest`` of the spec: the run it describes, joining this cluster."""
    from ._launching import new_request
    from ._loader import load_flow
    from ._prepare import plan_for
    from ._resuming import resume_request

    flow_cls, path = load_flow(f"{spec['flow_file']}:{spec['flow_class']}")
    fields = {**spec["fields"], "cluster": "auto", "run_id": spec["run_id"], "quiet": False}
    here = local_versions()
    extra = {
        **(spec.get("facts") or {}),
        "host": platform.node(),
        "python": platform.python_version(),
        "ray_version": here["ray"],
        "rayflow_version": here["rayflow"],
        "detached": spec["detached"],
        "flow_file": spec["detached"]["flow_file"],
    }
    with_ = tuple(spec.get("with") or ())
    resume = spec.get("resume")
    if resume:
        return resume_request(
            flow_cls,
            path,
            datastore=spec["datastore"],
            origin_run_id=resume["origin_run_id"],
            step=resume.get("step"),
            with_=with_,
            notify=print,
            extra=extra,
            **fields,
        )
    _, plan = plan_for(flow_cls, with_)
    return new_request(
        flow_cls, path, plan, spec["params"], spec["datastore"], facts=extra, **fields
    )


def mark_cancelled(datastore: str, flow: str, run_id: str) -> None:
    """The job was stopped (SIGTERM from Ray): the run ended as cancelled, not as failed."""
    storage = open_storage(datastore)
    record = records.read_run(storage, flow, run_id)
    if record.get("status") in ("failed", "running"):
        record.update(status="cancelled", finished_at=record.get("finished_at") or time.time())
        records.write_run(storage, flow, run_id, record)


def with_params(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with its parameter values, read from the datastore when they were too large to
    travel in the job's command line."""
    if "params_key" in spec:
        blobs = BlobStore(open_storage(spec["datastore"]), spec["flow_class"])
        spec = {**spec, "params": json.loads(blobs.get_bytes(spec["params_key"]))}
    return spec


def run(spec: dict[str, Any]) -> None:
    from rayflow.scheduler import launch
    from rayflow.scheduler._connect import connect, shutdown

    from .cli._run_cmd import report

    problem = version_problem(spec.get("versions") or {}, local_versions())
    started = False
    try:
        if problem is None:
            spec = with_params(spec)
            request = build_request(spec)
            # Join first, without a runtime_env: the job's own (the shipped folder, the S3
            # endpoint) is what the tasks inherit; launch then finds Ray initialised.
            started = connect("auto")
            result = launch(request)
    except USER_ERRORS as exc:
        problem = str(exc)
    finally:
        shutdown(started)
    if problem is not None:
        record_refused(spec, problem)  # only when the run was not recorded yet
        print(f"error: {problem}", file=sys.stderr, flush=True)
        sys.exit(1)
    if result.status == "interrupted" and result.signum == signal.SIGTERM:
        mark_cancelled(spec["datastore"], spec["flow_class"], result.run_id)
    report(result, spec["detached"]["flow_file"])


def main(argv: list[str] | None = None) -> None:
    from .cli._common import handle_errors

    args = sys.argv[1:] if argv is None else argv
    spec = decode_spec(args[0])
    handle_errors(lambda: run(spec), "rayflow")


if __name__ == "__main__":
    main()
