"""rayflow on an object store with a real region's latency: SeaweedFS behind a 20 ms proxy.

SeaweedFS (``tests/s3_server.py``) runs on loopback; ``tests/latency_proxy.py`` runs in its own
process in front of it and delays each response by ``--latency`` (default 20 ms). Everything
below talks to the proxy only (``AWS_ENDPOINT_URL``), rayflow's Ray workers included:

  (a) a no-op foreach of ``--splits`` splits (start, split, join, end): seconds per split;
  (b) a foreach of ``--resume-splits`` splits where one split fails, then its resume after the
      fix: time until the failed split starts again, and until the resume ends;
  (c) the join of (b)'s resume over all its inputs: the join task's own time;
  (d) listing through the client: ``Flow.runs()`` of a flow with ``--runs`` runs (records
      written directly), and every task of (b)'s resumed run with its state (``Step.tasks()``);
      plus the UI's run page model of that run, built cold;
  (e) Metaflow's local runtime on the same proxied S3 (``METAFLOW_DEFAULT_DATASTORE=s3``) and
      rayflow, on a no-op foreach of ``--metaflow-splits`` splits (skipped if Metaflow is not
      installed, or with ``--no-metaflow``).

Run: ``python -m benchmarks objectstore [--splits 1000] [--resume-splits 10000] [--runs 1000]
[--metaflow-splits 100] [--latency 0.02]``. The full sizes take ~25 minutes on 2 cores, most of
it the 10,000-split first run of (b) and Metaflow in (e); smaller sizes give a quick per-split
figure (the table says what ran).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid

from benchmarks._common import metaflow_version, save, start_ray, table

FLOW = """
import os
from {module} import FlowSpec, Parameter, step


class ObjstoreFlow(FlowSpec):
    n = Parameter("n", default=100)

    @step
    def start(self):
        self.items = list(range(self.n))
        self.next(self.split, foreach="items")

    @step
    def split(self):
        if self.input == 7 and os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "FAIL")):
            raise RuntimeError("split 7 fails")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.count = sum(1 for _ in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ObjstoreFlow()
"""


def _flow_file(folder: str, module: str, fail: bool = False) -> str:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"objstore_{module}.py")
    with open(path, "w") as f:
        f.write(textwrap.dedent(FLOW.format(module=module)))
    if fail:
        open(os.path.join(folder, "FAIL"), "w").close()
    return path


def _task_meta(url: str, flow: str, run_id: str, step: str, task_id: str) -> dict:
    from rayflow.datastore import open_storage, taskrecords

    return taskrecords.read_task(open_storage(url), flow, run_id, step, task_id).to_json()


def bench_foreach(url: str, n: int) -> dict:
    """(a): a no-op foreach of n splits."""
    from rayflow import Runner

    path = _flow_file(tempfile.mkdtemp(prefix="rf-os-a-"), "rayflow")
    t0 = time.perf_counter()
    out = Runner(path, datastore=url).run(n=n)
    seconds = time.perf_counter() - t0
    assert out.successful, out.failures
    join = _task_meta(url, "ObjstoreFlow", out.run_id, "join", "0")
    return {
        "workload": f"(a) no-op foreach, {n} splits",
        "N": n,
        "seconds": seconds,
        "ms_per_split": 1000 * seconds / n,
        "join_s": join["finished_at"] - join["started_at"],
    }


def bench_resume(url: str, n: int) -> tuple[dict, dict, str]:
    """(b) and (c): a run where split 7 fails, then its resume; returns the resumed run id."""
    from rayflow import Runner

    folder = tempfile.mkdtemp(prefix="rf-os-b-")
    path = _flow_file(folder, "rayflow", fail=True)
    t0 = time.perf_counter()
    first = Runner(path, datastore=url).run(n=n)
    first_s = time.perf_counter() - t0
    assert not first.successful
    os.remove(os.path.join(folder, "FAIL"))
    wall0, t0 = time.time(), time.perf_counter()
    second = Runner(path, datastore=url).resume()
    resume_s = time.perf_counter() - t0
    assert second.successful, second.failures
    run_id = second.run_id
    failed = _task_meta(url, "ObjstoreFlow", run_id, "split", "7")
    join = _task_meta(url, "ObjstoreFlow", run_id, "join", "0")
    b = {
        "workload": f"(b) resume, {n} splits, 1 failed",
        "N": n,
        "seconds": resume_s,
        "failed_split_started_s": failed["started_at"] - wall0,
        "first_run_s": first_s,
    }
    c = {
        "workload": f"(c) join over {n} inputs (in (b)'s resume)",
        "N": n,
        "seconds": join["finished_at"] - join["started_at"],
    }
    return b, c, run_id


def _write_runs(url: str, count: int) -> None:
    from rayflow.datastore import open_storage, paths

    storage = open_storage(url)
    base = time.time() - 86400
    files = {}
    for i in range(count):
        run_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime(base + i)) + f".000-{i:06x}"
        record = {
            "flow": "ManyRunsFlow",
            "run_id": run_id,
            "status": "successful",
            "user": "bench",
            "tags": [f"batch:{i // 100}"],
            "system_tags": ["user:bench"],
            "parameters": {"lr": 0.001 * (i % 17)},
            "created_at": base + i,
            "finished_at": base + i + 3,
        }
        files[paths.run_file("ManyRunsFlow", run_id)] = json.dumps(record).encode()
    for start in range(0, len(files), 500):
        storage.write_many(dict(list(files.items())[start : start + 500]))


def bench_listing(url: str, runs: int, run_id: str, n: int) -> list[dict]:
    """(d): Flow.runs() over ``runs`` runs; every task of (b)'s resumed run with its state;
    the UI's run page model of that run."""
    from rayflow import Flow, Run, metadata, namespace
    from rayflow.ui._runview import DoneCache, run_view

    _write_runs(url, runs)
    metadata(url)
    namespace(None)
    try:
        Flow("ManyRunsFlow")  # the client's S3 connection and bucket check, not timed
        t0 = time.perf_counter()
        listed = Flow("ManyRunsFlow").runs()
        runs_s = time.perf_counter() - t0
        assert len(listed) == runs, len(listed)
        t0 = time.perf_counter()
        tasks = [
            (t.id, t.finished, t.current_attempt) for s in Run(f"ObjstoreFlow/{run_id}") for t in s
        ]
        tasks_s = time.perf_counter() - t0
        assert len(tasks) == n + 3, len(tasks)
        t0 = time.perf_counter()
        view = run_view(Run(f"ObjstoreFlow/{run_id}"), DoneCache())
        ui_s = time.perf_counter() - t0
        assert len(view.tasks) == n + 3
    finally:
        metadata(None)
    return [
        {"workload": f"(d) Flow.runs() of {runs} runs", "N": runs, "seconds": runs_s},
        {"workload": f"(d) every task of a {n + 3}-task run", "N": n + 3, "seconds": tasks_s},
        {"workload": f"(d) UI run page model, {n + 3} tasks (cold)", "N": n + 3, "seconds": ui_s},
    ]


def bench_metaflow(url: str, n: int, server_env: dict, endpoint: str) -> dict:
    """(e): Metaflow's local runtime on the same proxied S3, and rayflow, at n splits."""
    row: dict = {"workload": f"(e) no-op foreach {n} splits: Metaflow local / rayflow", "N": n}
    rf = bench_foreach(url, n)
    row["rayflow_s"] = rf["seconds"]
    folder = tempfile.mkdtemp(prefix="mf-os-")
    path = _flow_file(folder, "metaflow")
    bucket = url.split("/")[2]
    env = dict(
        os.environ,
        **server_env,
        USERNAME="bench",
        METAFLOW_USER="bench",
        METAFLOW_DEFAULT_DATASTORE="s3",
        METAFLOW_DEFAULT_METADATA="local",
        METAFLOW_DATASTORE_SYSROOT_S3=f"s3://{bucket}/metaflow-{uuid.uuid4().hex[:8]}",
        METAFLOW_S3_ENDPOINT_URL=endpoint,
    )
    cmd = [
        sys.executable,
        path,
        "--no-pylint",
        "run",
        "--n",
        str(n),
        "--max-workers",
        str(os.cpu_count() or 2),
        "--max-num-splits",
        "100000",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=7200)
    row["metaflow_s"] = time.perf_counter() - t0
    if proc.returncode != 0:
        row["metaflow_s"] = None
        row["note"] = f"metaflow failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    else:
        row["seconds"] = row["metaflow_s"]
        row["metaflow_vs_rayflow"] = row["metaflow_s"] / row["rayflow_s"]
    return row


def measure(args: argparse.Namespace) -> dict:
    from tests.latency_proxy import ProxyProcess
    from tests.s3_server import S3Server

    with S3Server() as server, ProxyProcess(server.endpoint_url, args.latency) as proxy:
        bucket = server.make_bucket(f"bench-{uuid.uuid4().hex[:8]}")
        env = dict(server.env, AWS_ENDPOINT_URL=proxy.url)
        os.environ.update(env)
        for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
            os.environ.pop(name, None)
        start_ray()  # after the environment is set: the workers inherit it
        url = f"s3://{bucket}/rayflow"
        rows = []

        def keep(row: dict) -> None:
            rows.append(row)
            print(table([row], list(row)), flush=True)

        bench_foreach(f"s3://{bucket}/warm", 4)  # Ray workers, imports, the bucket check
        keep(bench_foreach(f"{url}-a", args.splits))
        b, c, run_id = bench_resume(f"{url}-b", args.resume_splits)
        keep(b)
        keep(c)
        for row in bench_listing(f"{url}-b", args.runs, run_id, args.resume_splits):
            keep(row)
        if args.metaflow and metaflow_version():
            keep(bench_metaflow(f"{url}-e", args.metaflow_splits, server.env, proxy.url))
        elif args.metaflow:
            rows.append({"workload": "(e) Metaflow", "note": "Metaflow is not installed: skipped"})
    return {
        "rows": rows,
        "latency_s": args.latency,
        "sizes": {
            "splits": args.splits,
            "resume_splits": args.resume_splits,
            "runs": args.runs,
            "metaflow_splits": args.metaflow_splits,
        },
    }


def main(args: argparse.Namespace | None = None) -> list[dict]:
    args = args or parse([])
    import ray

    if ray.is_initialized():
        # Ray's workers have the environment of when Ray started; ours must point at the
        # proxy, so the measurement runs in a fresh process with its own Ray.
        out = os.path.join(tempfile.mkdtemp(prefix="rf-os-"), "result.json")
        cmd = [sys.executable, "-m", "benchmarks", "objectstore", *unparse(args), "--json-out", out]
        subprocess.run(
            cmd, check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        )
        with open(out) as f:
            return json.load(f)["rows"]
    result = measure(args)
    rows = result["rows"]
    columns = [
        "workload",
        "N",
        "seconds",
        "ms_per_split",
        "failed_split_started_s",
        "join_s",
        "rayflow_s",
        "metaflow_s",
        "metaflow_vs_rayflow",
    ]
    print(f"\nrayflow on SeaweedFS behind a {1000 * args.latency:.0f} ms proxy (seconds)")
    print(table(rows, columns))
    for row in rows:
        if row.get("note"):
            print("note:", row["note"])
    print("saved", save("objectstore", rows, {k: v for k, v in result.items() if k != "rows"}))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f)
    return rows


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks objectstore")
    parser.add_argument("--splits", type=int, default=1000, help="(a) foreach size")
    parser.add_argument("--resume-splits", type=int, default=10000, help="(b)-(d) foreach size")
    parser.add_argument("--runs", type=int, default=1000, help="(d) runs of one flow")
    parser.add_argument("--metaflow-splits", type=int, default=100, help="(e) foreach size")
    parser.add_argument("--latency", type=float, default=0.020, help="seconds per response")
    parser.add_argument("--no-metaflow", dest="metaflow", action="store_false")
    parser.add_argument("--json-out", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def unparse(args: argparse.Namespace) -> list[str]:
    out = [
        "--splits",
        str(args.splits),
        "--resume-splits",
        str(args.resume_splits),
        "--runs",
        str(args.runs),
        "--metaflow-splits",
        str(args.metaflow_splits),
        "--latency",
        str(args.latency),
    ]
    return out + ([] if args.metaflow else ["--no-metaflow"])


def cli(argv: list[str]) -> list[dict]:
    return main(parse(argv))


if __name__ == "__main__":
    cli(sys.argv[1:])
