"""``rayflow ui`` page times on a big datastore.

Builds (in a few seconds, by writing run/task records directly through
``rayflow.datastore.records``) a datastore with
  - ``ManyRunsFlow``: 1,000 runs (run.json only, with tags, parameters, a plan), and
  - ``WideFlow``: one run of start -> a 1,000-split foreach -> join -> end (records, logs),
then serves it with uvicorn on a free port and times the pages over HTTP: the first (cold)
load, and the median of 5 warm loads. Target (issue "rayflow ui"): each under 1 s.
Run: ``python -m benchmarks.ui [--runs 1000] [--splits 1000]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time

from benchmarks._common import save, table

PLAN = {
    "start": {"type": "start", "is_join": False, "split_kind": "foreach", "out": ["work"], "foreach": "items",
              "condition": None, "switch": {}, "parents": [], "closes": None, "decorators": {}},
    "work": {"type": "linear", "is_join": False, "split_kind": None, "out": ["join"], "foreach": None,
             "condition": None, "switch": {}, "parents": ["start"], "closes": None, "decorators": {}},
    "join": {"type": "join", "is_join": True, "split_kind": None, "out": ["end"], "foreach": None,
             "condition": None, "switch": {}, "parents": ["work"], "closes": "start", "decorators": {}},
    "end": {"type": "end", "is_join": False, "split_kind": None, "out": [], "foreach": None,
            "condition": None, "switch": {}, "parents": ["join"], "closes": None, "decorators": {}},
}


def _run_record(flow: str, run_id: str, t0: float, i: int) -> dict:
    status = ("successful", "failed", "successful", "successful", "pruned")[i % 5]
    return {"flow": flow, "run_id": run_id, "status": status, "user": "bench", "tags": [f"batch:{i // 100}"],
            "system_tags": ["user:bench"], "parameters": {"lr": 0.001 * (i % 17), "depth": i % 9},
            "created_at": t0, "finished_at": t0 + 3.0 + i % 7, "origin_run_id": None, "plan": PLAN,
            "python": "3.11", "host": "bench", "executed": 4, "cloned": 0}


def build(root: str, runs: int, splits: int) -> str:
    from rayflow.datastore import BlobStore, TaskRecord, open_storage, records, taskrecords

    storage = open_storage(root)
    base = time.time() - 86400
    for i in range(runs):
        run_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime(base + i)) + f".000-{i:06x}"
        records.write_run(storage, "ManyRunsFlow", run_id, _run_record("ManyRunsFlow", run_id, base + i, i))
    flow, run_id = "WideFlow", time.strftime("%Y%m%dT%H%M%S", time.gmtime(base)) + ".000-000001"
    record = _run_record(flow, run_id, base, 0)
    record.update(status="successful", parameters={"n": splits}, executed=splits + 3)
    records.write_run(storage, flow, run_id, record)
    blobs = BlobStore(storage, flow)
    items = blobs.put("items", list(range(splits)))
    keys = [blobs.put("x", i) for i in range(splits)]

    def task(step: str, task_id: str, frames: list, artifacts: dict, start: float, extra: dict) -> None:
        records.write_log(storage, flow, run_id, step, task_id, "stdout", 0, f"hello from {step}/{task_id}\n")
        taskrecords.write(storage, TaskRecord(
            flow=flow, run_id=run_id, step=step, task_id=task_id, status="done", finished=True,
            frames=frames, artifacts=artifacts, ready_at=start - 0.01, started_at=start,
            finished_at=start + 0.2, node_id="f" * 56, host="bench", pid=4242, **extra))

    task("start", "0", [], {"items": items}, base, {"next": ["work"], "foreach": {"var": "items", "n": splits, "items": items}})
    for i in range(splits):
        task("work", str(i), [["start", i, splits, keys[i]]], {"items": items, "x": keys[i]},
             base + 0.3 + (i // 2) * 0.21, {"next": ["join"]})
    task("join", "0", [], {"total": blobs.put("total", sum(range(splits)))}, base + 0.3 + splits * 0.11, {"next": ["end"]})
    task("end", "0", [], {}, base + 0.6 + splits * 0.11, {"next": []})
    return run_id


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(argv: list[str]) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks ui")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--splits", type=int, default=1000)
    return main(parser.parse_args(argv))


def main(args: argparse.Namespace | None = None) -> list[dict]:
    args = args or argparse.Namespace(runs=1000, splits=1000)
    import httpx
    import uvicorn

    from rayflow.ui import create_app

    with tempfile.TemporaryDirectory(prefix="rf-ui-bench-") as root:
        t = time.perf_counter()
        wide_run = build(root, args.runs, args.splits)
        print(f"built {args.runs} runs + a {args.splits}-split run in {time.perf_counter() - t:.1f}s")
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(root), host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        pages = [("home", "/"), (f"flow page ({args.runs} runs)", "/flows/ManyRunsFlow"),
                 (f"run page ({args.splits}-split foreach)", f"/runs/WideFlow/{wide_run}"),
                 ("run live JSON (poll)", f"/api/runs/WideFlow/{wide_run}"),
                 ("task page", f"/runs/WideFlow/{wide_run}/work/7")]
        rows = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for name, path in pages:
                t = time.perf_counter()
                r = client.get(path)
                cold = time.perf_counter() - t
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
                warm = []
                for _ in range(5):
                    t = time.perf_counter()
                    client.get(path).raise_for_status()
                    warm.append(time.perf_counter() - t)
                rows.append({"page": name, "cold_s": cold, "warm_median_s": statistics.median(warm),
                             "kb": len(r.content) // 1024})
        server.should_exit = True
        thread.join(10)
    print(table(rows, ["page", "cold_s", "warm_median_s", "kb"]))
    print(f"saved {save('ui', rows)}")
    return rows


if __name__ == "__main__":
    import sys

    cli(sys.argv[1:])
