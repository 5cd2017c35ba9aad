"""Submit a run to a Ray cluster as a Ray job, so it goes on after this machine is gone.

The job's entrypoint is rayflow's own driver (``rayflow._detached_driver``) given a small JSON
spec of the run: the flow file (inside the job's ``working_dir``, which is the flow's folder,
shipped by the same rules as ``--cluster``: ``scheduler._shipping``), the parameter values
resolved here, the run options, the run id chosen here and the versions of this machine. On the
cluster it builds the ``RunRequest`` and calls ``launch``, like every other way of starting a run.

Everything a user can get wrong is checked here, before anything is submitted, in one line each:
the address (``http://HEAD:8265``), the token, the head's Ray version against this one, a local
datastore the cluster cannot see (refused unless ``--shared-datastore``), the folder's size. The
job's submission id is derived from the run id: submitting a run id again finds the job of the
first submission and says so.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from rayflow.datastore import BlobStore, LocalStorage, open_storage, records, settings

from ._errors import DetachError
from ._jobserver import JobServer, job_id, job_server

SPEC_VERSION = 1
INLINE_SPEC_BYTES = 64 * 1024  # larger parameter values travel through the datastore


def local_versions() -> dict[str, str | None]:
    """Python (major.minor: patch releases share pickles), Ray and rayflow of this machine."""

    def dist(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": ".".join(platform.python_version_tuple()[:2]),
        "ray": dist("ray"),
        "rayflow": dist("rayflow"),
    }


def encode_spec(spec: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(spec, sort_keys=True).encode()).decode()


def decode_spec(text: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(text.encode()).decode())


@dataclass
class Submitted:
    """What the user is told: the run, the job, and whether this call submitted it."""

    pathspec: str
    job_id: str
    job_url: str
    cluster: str
    datastore: str
    again: bool  # the job existed already: an earlier submission of the same run id


def check_datastore(url: str, shared: bool) -> None:
    """A local folder is refused unless every node of the cluster is said to mount it."""
    storage = open_storage(url)
    if isinstance(storage, LocalStorage) and not (shared or settings.shared_datastore()):
        raise DetachError(
            f"--detach: the datastore {storage.url} is a local folder the cluster "
            f"cannot see; use --datastore s3://bucket/prefix (or --shared-datastore "
            f"if every node of the cluster mounts {storage.url})"
        )


def check_versions(server: JobServer, found: dict[str, Any]) -> None:
    """The head's Ray must be this machine's Ray (Python and rayflow are checked by the job)."""
    here = local_versions()["ray"]
    there = found.get("ray_version")
    if here and there and here != there:
        raise DetachError(
            f"the cluster at {server.url} runs Ray {there}, this machine Ray {here}; "
            f"install the same Ray version on both (pip install 'ray[default]=={there}')"
        )


def _run_id(url: str, flow: str, given: str | None) -> str:
    from rayflow.datastore import paths
    from rayflow.scheduler import new_run_id

    if given:
        return paths.check_run_id(given)
    storage = open_storage(url)
    for _ in range(20):
        candidate = new_run_id()
        if not records.run_exists(storage, flow, candidate):
            return candidate
    raise DetachError("could not find a free run id")


def _runtime_env(flow_file: str, url: str, user: str, out: Any) -> tuple[dict[str, Any], str]:
    """The job's runtime_env: the flow's folder as working_dir, the S3 endpoint and the rayflow
    settings the driver inherits; and the flow file's name inside the folder."""
    from rayflow.scheduler._shipping import build_runtime_env

    local = "://" not in url or url.startswith("file://")
    env, shipped, notes = build_runtime_env(flow_file, url if local else None)
    if shipped:
        print(f"rayflow: {shipped}", file=out, flush=True)
    for note in notes:
        print(f"rayflow: note: {note}", file=sys.stderr)
    env["env_vars"] = {**env.get("env_vars", {}), **settings.for_detached_driver(user)}
    return env, os.path.basename(flow_file)


def entrypoint(spec: dict[str, Any]) -> str:
    """The job's command: the cluster's Python (``python`` on the nodes' PATH unless
    RAYFLOW_CLUSTER_PYTHON names it) running rayflow's detached driver on the spec."""
    python = settings.cluster_python() or "python"
    return f"{shlex.quote(python)} -m rayflow._detached_driver {encode_spec(spec)}"


def submit(
    flow_cls: type,
    flow_file: str | None,
    values: dict[str, Any],
    url: str,
    opts: dict[str, Any],
    resume: dict[str, Any] | None = None,
    out: Any = None,
) -> Submitted:
    """Check, then submit the run as a Ray job; ``resume`` holds the origin run and the step."""
    out = out or sys.stdout
    if not flow_file:
        raise DetachError("--detach needs a flow file: the job runs the flow from its folder")
    server = job_server(opts.get("cluster") or settings.cluster())
    check_datastore(url, bool(opts.get("shared_datastore")))
    check_versions(server, server.probe())
    flow = flow_cls.__name__
    run_id = _run_id(url, flow, opts.get("run_id"))
    submission = job_id(flow, run_id)
    pathspec = f"{flow}/{run_id}"
    # A job of this id: an earlier submission of the same run id; nothing new is started.
    again = server.job_state(submission) is not None or _submit_new(
        server, submission, flow_cls, flow_file, url, run_id, values, opts, resume, out
    )
    if opts.get("run_id_file"):
        with open(opts["run_id_file"], "w") as f:
            f.write(run_id)
    return Submitted(pathspec, submission, server.job_url(submission), server.url, url, again)


def _submit_new(
    server: JobServer,
    submission: str,
    flow_cls: type,
    flow_file: str,
    url: str,
    run_id: str,
    values: dict[str, Any],
    opts: dict[str, Any],
    resume: dict[str, Any] | None,
    out: Any,
) -> bool:
    """Ship and submit; True when the job appeared meanwhile (submitted by another call)."""
    from rayflow.scheduler import username

    from ._lineage import lineage

    flow = flow_cls.__name__
    if records.run_exists(open_storage(url), flow, run_id):
        raise DetachError(f"run {flow}/{run_id} already exists in {url}; choose another --run-id")
    user = username()
    runtime_env, file_name = _runtime_env(flow_file, url, user, out)
    facts = lineage(flow_cls, flow_file, url)  # the code blob, from here: checks the datastore too
    detached = {
        "cluster": server.url,
        "job_id": submission,
        "job_url": server.job_url(submission),
        "submitted_from": platform.node(),
        "submitted_at": time.time(),
        "flow_file": os.path.abspath(flow_file),
    }
    spec = run_spec(flow, file_name, run_id, url, values, opts, facts, detached, resume)
    if len(encode_spec(spec)) > INLINE_SPEC_BYTES:  # one exec argument holds at most 128 KiB
        blobs = BlobStore(open_storage(url), flow)
        spec["params_key"] = blobs.put_bytes(json.dumps(spec.pop("params")).encode())
    return _submit_job(server, submission, entrypoint(spec), runtime_env, f"{flow}/{run_id}")


def submit_resume(
    flow_cls: type, flow_file: str | None, url: str, opts: dict[str, Any], notify: Any = None
) -> Submitted:
    """Check the resume here (origin run, parameters, steps: the errors of ``rayflow resume``),
    then submit it; the cluster clones what the origin finished and runs the rest."""
    from ._resuming import resume_request

    request = resume_request(
        flow_cls,
        flow_file,
        datastore=url,
        origin_run_id=opts.get("origin_run_id"),
        step=opts.get("step"),
        given_params=opts.get("params"),
        with_=tuple(opts.get("with_") or ()),
        notify=notify,
    )
    resume = {"origin_run_id": request.origin_run_id, "step": opts.get("step")}
    return submit(flow_cls, flow_file, {}, url, opts, resume=resume)


def run_spec(
    flow: str,
    file_name: str,
    run_id: str,
    url: str,
    values: dict[str, Any],
    opts: dict[str, Any],
    facts: dict[str, Any],
    detached: dict[str, Any],
    resume: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the detached driver needs to build the run's request on the cluster (JSON)."""
    from rayflow.scheduler import cache_mode

    return {
        "version": SPEC_VERSION,
        "flow_file": file_name,
        "flow_class": flow,
        "run_id": run_id,
        "datastore": url,
        "params": _json_params(values),
        "with": list(opts.get("with_") or ()),
        "fields": {
            "tags": list(opts.get("tags") or ()),
            "max_workers": opts.get("max_workers"),
            "fail_fast": bool(opts.get("fail_fast")),
            "max_num_splits": opts.get("max_num_splits"),
            "cache": cache_mode(opts.get("cache")),
            "shared_datastore": bool(opts.get("shared_datastore")),
        },
        "resume": resume,
        "facts": facts,
        "versions": local_versions(),
        "detached": detached,
    }


def _json_params(values: dict[str, Any]) -> dict[str, Any]:
    """Parameter values travel as JSON (they were resolved and checked here)."""
    try:
        return json.loads(json.dumps(values))
    except (TypeError, ValueError) as exc:
        raise DetachError(
            f"--detach: a parameter value cannot be sent to the cluster as JSON ({exc})"
        ) from None


def _submit_job(
    server: JobServer, submission: str, command: str, runtime_env: dict[str, Any], pathspec: str
) -> bool:
    """Submit; True when a job of this id appeared meanwhile (nothing new was started)."""
    client = server.client()
    try:
        client.submit_job(
            entrypoint=command,
            submission_id=submission,
            runtime_env=runtime_env,
            metadata={"rayflow_run": pathspec},
        )
    except RuntimeError as exc:
        if "already exists" in str(exc):
            return True
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DetachError(f"the Ray job server at {server.url} refused the run: {text}") from None
    return False


def tell(done: Submitted, out: Any = None) -> None:
    """What the user needs to follow the run from any machine."""
    out = out or sys.stdout
    store = "" if done.datastore == settings.datastore() else f" --datastore {done.datastore}"
    what = "was already submitted" if done.again else "submitted"
    lines = [
        f"run {done.pathspec} {what} to the Ray cluster at {done.cluster} (job {done.job_id})",
        f"  status:    rayflow status {done.pathspec}{store}",
        f"  logs:      rayflow logs {done.pathspec}{store} --follow",
        f"  cancel:    rayflow cancel {done.pathspec}{store}",
        f"  dashboard: {done.job_url}",
    ]
    print("\n".join(lines), file=out, flush=True)


__all__ = [
    "Submitted",
    "check_datastore",
    "decode_spec",
    "encode_spec",
    "local_versions",
    "run_spec",
    "submit",
    "submit_resume",
    "tell",
]
