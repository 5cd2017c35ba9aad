"""``rayflow ui`` at scale: how long its pages take to build and how big they are.

Writes (through the datastore's record API, ``Storage.write_many``: seconds, no Ray) a datastore
with
  - ``ManyRunsFlow``: ``--runs`` runs (run.json only, with tags, parameters, a plan);
  - ``WideFlow``: one finished run of start -> a ``--splits``-split foreach -> join -> end;
  - ``LiveFlow``: a running run of the same shape, every split done but the last;
serves it with uvicorn on a free port and times the pages over HTTP: the first (cold) load and
the median of 5 warm loads, with each answer's size. Then the last split of ``LiveFlow``
finishes and the live page's next poll (``/api/runs/F/R/changes?since=CURSOR``) is measured: the
delta's size and the tasks it carries, against the page's.

Targets (issue 15): the page of a 10,000-task run in <= 1 s; its live updates send only what
changed; the runs of a flow with 1,000 runs in <= 3 s. ``--s3`` runs the same on SeaweedFS
behind the 20 ms latency proxy (tests/s3_server.py, tests/latency_proxy.py; needs ``weed``).
``--real`` makes the big run a real no-op foreach run by rayflow (its driver's own records; the
live run then has one split). Run: ``python -m benchmarks ui [--runs 1000] [--splits 10000]
[--s3] [--real]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from benchmarks._common import save, table
from benchmarks._ui_serving import serving

PLAN = {
    "start": {
        "type": "start",
        "is_join": False,
        "split_kind": "foreach",
        "out": ["work"],
        "foreach": "items",
        "condition": None,
        "switch": {},
        "parents": [],
        "closes": None,
        "decorators": {},
    },
    "work": {
        "type": "linear",
        "is_join": False,
        "split_kind": None,
        "out": ["join"],
        "foreach": None,
        "condition": None,
        "switch": {},
        "parents": ["start"],
        "closes": None,
        "decorators": {},
    },
    "join": {
        "type": "join",
        "is_join": True,
        "split_kind": None,
        "out": ["end"],
        "foreach": None,
        "condition": None,
        "switch": {},
        "parents": ["work"],
        "closes": "start",
        "decorators": {},
    },
    "end": {
        "type": "end",
        "is_join": False,
        "split_kind": None,
        "out": [],
        "foreach": None,
        "condition": None,
        "switch": {},
        "parents": ["join"],
        "closes": None,
        "decorators": {},
    },
}


def _run_record(flow: str, run_id: str, t0: float, i: int) -> dict:
    status = ("successful", "failed", "successful", "successful", "pruned")[i % 5]
    return {
        "flow": flow,
        "run_id": run_id,
        "status": status,
        "user": "bench",
        "tags": [f"batch:{i // 100}"],
        "system_tags": ["user:bench"],
        "parameters": {"lr": 0.001 * (i % 17), "depth": i % 9},
        "created_at": t0,
        "finished_at": t0 + 3.0 + i % 7,
        "origin_run_id": None,
        "plan": PLAN,
        "python": "3.11",
        "host": "bench",
        "executed": 4,
        "cloned": 0,
    }


def _run_id(t: float, i: int) -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f".000-{i:06x}"


def _task_file(
    flow: str, run_id: str, step: str, task_id: str, start: float, **extra: object
) -> tuple[str, bytes]:
    from rayflow.datastore import TaskRecord, paths

    record = TaskRecord(
        flow=flow,
        run_id=run_id,
        step=step,
        task_id=task_id,
        status="done",
        finished=True,
        ready_at=start - 0.01,
        started_at=start,
        finished_at=start + 0.2,
        node_id="f" * 56,
        host="bench",
        pid=4242,
        **extra,
    )  # type: ignore[arg-type]
    return paths.meta_file(flow, run_id, step, task_id, 0), json.dumps(record.to_json()).encode()


def fan_files(
    flow: str, run_id: str, splits: int, done: int, base: float, keys: dict
) -> dict[str, bytes]:
    """Task records of start, the first ``done`` splits, and join/end once every split is done."""
    files = dict(
        [
            _task_file(
                flow,
                run_id,
                "start",
                "0",
                base,
                artifacts={"items": keys["items"]},
                next=["work"],
                foreach={"var": "items", "n": splits, "items": keys["items"]},
            )
        ]
    )
    for i in range(done):
        files.update(
            [
                _task_file(
                    flow,
                    run_id,
                    "work",
                    str(i),
                    base + 0.3 + (i // 2) * 0.21,
                    frames=[["start", i, splits, keys["x"]]],
                    artifacts={"x": keys["x"]},
                    next=["join"],
                )
            ]
        )
    if done == splits:
        files.update(
            [
                _task_file(
                    flow,
                    run_id,
                    "join",
                    "0",
                    base + 0.3 + splits * 0.11,
                    next=["end"],
                    artifacts={"total": keys["x"]},
                )
            ]
        )
        files.update([_task_file(flow, run_id, "end", "0", base + 0.6 + splits * 0.11)])
    return files


def build(url: str, runs: int, splits: int) -> tuple[str, str]:
    """The datastore described in the module docstring; returns (WideFlow run, LiveFlow run)."""
    from rayflow.datastore import BlobStore, open_storage, paths, records

    storage = open_storage(url)
    base = time.time() - 86400
    files = {}
    for i in range(runs):
        run_id = _run_id(base + i, i)
        files[paths.run_file("ManyRunsFlow", run_id)] = json.dumps(
            _run_record("ManyRunsFlow", run_id, base + i, i)
        ).encode()
    wide, live = _run_id(base, 1), _run_id(time.time(), 2)
    record = dict(
        _run_record("WideFlow", wide, base, 0), status="successful", parameters={"n": splits}
    )
    files[paths.run_file("WideFlow", wide)] = json.dumps(record).encode()
    keys = {
        "items": BlobStore(storage, "WideFlow").put("items", list(range(splits))),
        "x": BlobStore(storage, "WideFlow").put("x", 7),
    }
    files.update(fan_files("WideFlow", wide, splits, splits, base, keys))
    live_keys = {
        "items": BlobStore(storage, "LiveFlow").put("items", list(range(splits))),
        "x": BlobStore(storage, "LiveFlow").put("x", 7),
    }
    record = dict(_run_record("LiveFlow", live, time.time(), 0), status="running", finished_at=None)
    files[paths.run_file("LiveFlow", live)] = json.dumps(record).encode()
    files.update(fan_files("LiveFlow", live, splits, splits - 1, time.time() - 60, live_keys))
    items = list(files.items())
    for start in range(0, len(items), 2000):
        storage.write_many(dict(items[start : start + 2000]))
    # a beat an hour ahead: the run stays "running" however long the measurement takes
    records.write_heartbeat(storage, "LiveFlow", live, {"at": time.time() + 3600, "interval": 10.0})
    return wide, live


def time_page(client: object, name: str, path: str, warm_loads: int = 5) -> dict:
    t = time.perf_counter()
    r = client.get(path)  # type: ignore[attr-defined]
    cold = time.perf_counter() - t
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    warm = []
    for _ in range(warm_loads):
        t = time.perf_counter()
        client.get(path).raise_for_status()  # type: ignore[attr-defined]
        warm.append(time.perf_counter() - t)
    return {
        "page": name,
        "cold_s": cold,
        "warm_median_s": statistics.median(warm) if warm else None,
        "kb": round(len(r.content) / 1024, 1),
    }


def live_delta(client: object, url: str, live: str, splits: int) -> dict:
    """The live page, then one split finishes: the next poll's size and the tasks it carries."""
    from rayflow.datastore import open_storage

    page = client.get(f"/runs/LiveFlow/{live}").text  # type: ignore[attr-defined]
    poll, cursor = re.search(r'data-live="([^"]+)" data-cursor="([^"]+)"', page).groups()
    path, data = _task_file(
        "LiveFlow",
        live,
        "work",
        str(splits - 1),
        time.time() - 1,
        frames=[["start", splits - 1, splits, "x"]],
        next=["join"],
    )
    open_storage(url).write_many({path: data})
    t = time.perf_counter()
    r = client.get(poll, params={"since": cursor})  # type: ignore[attr-defined]
    seconds = time.perf_counter() - t
    carried = [t["task"] for t in r.json()["tasks"]]
    return {
        "page": f"live poll after 1 of {splits} tasks finished",
        "cold_s": seconds,
        "warm_median_s": None,
        "kb": round(len(r.content) / 1024, 1),
        "note": f"carries {carried}; the page is {len(page) // 1024} KB",
    }


def real_run(url: str, splits: int) -> tuple[str, str, str]:
    """A real no-op foreach of ``splits`` splits (``benchmarks.fanout.FanoutFlow``) on ``url``:
    its records are the driver's own (``--real``). Returns (flow, run id, the foreach's step)."""
    from benchmarks._common import start_ray
    from benchmarks.fanout import FanoutFlow
    from rayflow import Runner

    start_ray()
    t = time.perf_counter()
    run = Runner(FanoutFlow, datastore=url).run(n=splits)
    assert run.successful, run.failures
    print(f"ran a real {splits}-split foreach in {time.perf_counter() - t:.1f}s", flush=True)
    return "FanoutFlow", run.run_id, "split"


def measure(url: str, runs: int, splits: int, real: bool = False) -> list[dict]:
    import httpx

    t = time.perf_counter()
    wide_id, live = build(url, runs, 1 if real else splits)
    print(
        f"built {runs} runs + a {splits}-split run + a live one in {time.perf_counter() - t:.1f}s",
        flush=True,
    )
    flow, wide_id, step = real_run(url, splits) if real else ("WideFlow", wide_id, "work")
    pages = [
        ("home", "/"),
        (f"flow page ({runs} runs)", "/flows/ManyRunsFlow"),
        (f"run page ({splits + 3} tasks)", f"/runs/{flow}/{wide_id}"),
        ("show more (100 tasks)", f"/api/runs/{flow}/{wide_id}/tasks?step={step}&offset=100"),
        ("run summary JSON", f"/api/runs/{flow}/{wide_id}"),
        ("task page", f"/runs/{flow}/{wide_id}/{step}/7"),
    ]
    with serving(url) as base, httpx.Client(base_url=base, timeout=600) as client:
        rows = [time_page(client, name, path) for name, path in pages]
        rows.append(
            time_page(
                client,
                "full timeline, every task (on demand)",
                f"/runs/{flow}/{wide_id}/timeline",
                1,
            )
        )
        rows.append(live_delta(client, url, live, 1 if real else splits))
    return rows


@contextmanager
def s3_datastore(latency: float) -> Iterator[str]:
    from tests.latency_proxy import ProxyProcess
    from tests.s3_server import S3Server

    with S3Server() as server, ProxyProcess(server.endpoint_url, latency) as proxy:
        bucket = server.make_bucket(f"ui-{uuid.uuid4().hex[:8]}")
        os.environ.update(server.env, AWS_ENDPOINT_URL=proxy.url)
        for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
            os.environ.pop(name, None)
        yield f"s3://{bucket}/rayflow"


def main(args: argparse.Namespace | None = None) -> list[dict]:
    args = args or parse([])
    if args.s3:
        with s3_datastore(args.latency) as url:
            rows = measure(url, args.runs, args.splits, args.real)
        where = f"s3:// behind a {1000 * args.latency:.0f} ms proxy"
    else:
        with tempfile.TemporaryDirectory(prefix="rf-ui-bench-") as root:
            rows = measure(root, args.runs, args.splits, args.real)
        where = "local disk"
    print(f"\nrayflow ui on {where}")
    print(table(rows, ["page", "cold_s", "warm_median_s", "kb", "note"]))
    print(
        f"saved {save('ui-s3' if args.s3 else 'ui', rows, {'where': where, 'runs': args.runs, 'splits': args.splits})}"
    )
    return rows


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks ui")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--splits", type=int, default=10000)
    parser.add_argument("--s3", action="store_true", help="SeaweedFS behind the latency proxy")
    parser.add_argument(
        "--real",
        action="store_true",
        help="the big run is a real foreach run by rayflow (needs Ray), not written records",
    )
    parser.add_argument("--latency", type=float, default=0.020, help="seconds per response (--s3)")
    return parser.parse_args(argv)


def cli(argv: list[str]) -> list[dict]:
    return main(parse(argv))


if __name__ == "__main__":
    import sys

    cli(sys.argv[1:])
