"""Scaling across nodes, and artifact throughput on local disk vs s3:// (SeaweedFS).

(1) A foreach of 48 CPU-bound splits (~0.2 s each) on local Ray clusters of 1, 2 and 3 nodes
    with 1 CPU each, run with ``rayflow run --cluster``; wall time comes from run.json. The same
    with 48 splits that sleep 0.5 s, which shows how the scheduler spreads work when CPUs are not
    the limit (this machine has 2 cores, so CPU-bound work cannot speed up past 2x here). Each
    run is a new Ray job, so its wall time includes starting a worker on every node (a few
    seconds here: the shipped working_dir is unpacked and Python started on each node).
(2) Write and read throughput of 10 MB and 200 MB artifacts through rayflow's datastore, vs
    s3fs alone moving the same bytes, on SeaweedFS on loopback; local disk for reference.
Run: ``python -m benchmarks.scaling``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

from benchmarks._common import save, table

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

FLOW = """
import time
from rayflow import FlowSpec, Parameter, step

class ScaleFlow(FlowSpec):
    n = Parameter("n", default=48)
    mode = Parameter("mode", default="cpu")

    @step
    def start(self):
        self.items = list(range(self.n))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.mode == "cpu":
            t = time.perf_counter()
            while time.perf_counter() - t < 0.2:
                pass
        else:
            time.sleep(0.5)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def _run_on(cluster, folder: str, mode: str, n: int) -> float:
    flow = os.path.join(folder, "scale_flow.py")
    ds = os.path.join(folder, "ds")
    run_id_file = os.path.join(folder, f"run-{mode}")
    env = dict(cluster.env, RAYFLOW_SHARED_DATASTORE="1")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rayflow.cli",
            "run",
            flow,
            "--cluster",
            cluster.address,
            "--datastore",
            ds,
            "--n",
            str(n),
            "--mode",
            mode,
            "-q",
            "--run-id-file",
            run_id_file,
        ],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    run_id = open(run_id_file).read().strip()
    record = json.load(open(os.path.join(ds, "ScaleFlow", "runs", run_id, "run.json")))
    return record["finished_at"] - record["created_at"]


def scaling(n: int = 48) -> list[dict]:
    from tests.cluster.ray_cluster import RayCluster

    rows = []
    base: dict[str, float] = {}
    for nodes in (1, 2, 3):
        folder = tempfile.mkdtemp(prefix="rf-scale-")
        with open(os.path.join(folder, "scale_flow.py"), "w") as f:
            f.write(textwrap.dedent(FLOW))
        with RayCluster(workers=nodes - 1, cpus=1, memory_mb=700).start(timeout=120) as cluster:
            for mode in ("cpu", "sleep"):
                seconds = _run_on(cluster, folder, mode, n)
                base.setdefault(mode, seconds)
                rows.append(
                    {
                        "nodes": nodes,
                        "work": mode,
                        "splits": n,
                        "seconds": seconds,
                        "speedup": base[mode] / seconds,
                    }
                )
                print(table(rows[-1:], list(rows[-1])), flush=True)
    return rows


def _throughput(label: str, put, get, sizes: list[int]) -> list[dict]:
    rows = []
    for size in sizes:
        data = os.urandom(size)
        t0 = time.perf_counter()
        key = put(data)
        write = time.perf_counter() - t0
        t0 = time.perf_counter()
        back = get(key)
        read = time.perf_counter() - t0
        assert len(back) == size
        rows.append(
            {
                "store": label,
                "MB": size // 2**20,
                "write_MB_s": size / 2**20 / write,
                "read_MB_s": size / 2**20 / read,
            }
        )
    return rows


def throughput(sizes: list[int] | None = None) -> list[dict]:
    from rayflow.datastore import BlobStore, open_storage
    from tests.s3_server import S3Server

    sizes = sizes or [10 * 2**20, 200 * 2**20]
    rows = []
    local = BlobStore(open_storage(tempfile.mkdtemp(prefix="rf-tp-")), "Bench")
    rows += _throughput("rayflow local disk", local.put_bytes, local.get_bytes, sizes)
    with S3Server() as server:
        os.environ.update(server.env)
        server.make_bucket("bench")
        fs = server.filesystem()
        counter = iter(range(10**6))

        def s3fs_put(data: bytes) -> str:
            path = f"bench/raw/{next(counter)}"
            fs.pipe_file(path, data)
            return path

        rows += _throughput("s3fs alone", s3fs_put, fs.cat_file, sizes)
        blobs = BlobStore(open_storage("s3://bench/rayflow"), "Bench")
        rows += _throughput("rayflow s3://", blobs.put_bytes, blobs.get_bytes, sizes)
    for row in rows:
        print(table([row], list(row)), flush=True)
    return rows


def main() -> list[dict]:
    scale_rows = scaling()
    tp_rows = throughput()
    print()
    print(table(scale_rows, ["nodes", "work", "splits", "seconds", "speedup"]))
    print(table(tp_rows, ["store", "MB", "write_MB_s", "read_MB_s"]))
    print("saved", save("scaling", scale_rows + tp_rows))
    return scale_rows + tp_rows


def cli(argv: list[str]) -> list[dict]:
    if argv:
        raise SystemExit("usage: python -m benchmarks scaling  (no arguments)")
    return main()


if __name__ == "__main__":
    main()
