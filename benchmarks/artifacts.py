"""Artifact throughput: one step writes an incompressible array, the next step reads it.

Sizes 10 MB, 200 MB and 1 GB (``--no-1gb`` leaves the last one out). A uint8 numpy array of random
bytes, so compression cannot help. For rayflow (local datastore in a temporary folder):
- write: from the end of the producing step's code to its task record (pickle with the array's
  buffer kept out of band, SHA-256, one atomic file write straight from the array's memory),
  taken from the task's ``finished_at`` minus a timestamp the step records;
- read: the consuming step's first access of the artifact (one read into aligned memory, verify
  against its key, unpickle mapping the array onto that memory), timed inside the step.
Beside it, in this process: ``pickle.dump`` of the same array to a file in the same folder and
``pickle.load`` of it (no fsync on either side). Both read from the page cache.

Run: ``python -m benchmarks artifacts [--no-1gb]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import tempfile
import time

from benchmarks._common import save, start_ray, table
from rayflow import FlowSpec, Parameter, step

SIZES_MB = [10, 200, 1000]


class ArtifactFlow(FlowSpec):
    size_mb = Parameter("size_mb", default=10)

    @step
    def start(self):
        import numpy as np

        t = time.perf_counter()
        self.payload = np.frombuffer(
            np.random.default_rng(0).bytes(self.size_mb * 10**6), dtype=np.uint8
        )
        self.gen_s = time.perf_counter() - t
        self.user_code_done_at = time.time()
        self.next(self.consume)

    @step
    def consume(self):
        t = time.perf_counter()
        payload = self.payload
        self.read_s = time.perf_counter() - t
        self.nbytes = int(payload.nbytes)
        del payload
        self.next(self.end)

    @step
    def end(self):
        pass


def _rayflow(size_mb: int, folder: str) -> dict:
    from rayflow import Runner

    t0 = time.perf_counter()
    outcome = Runner(ArtifactFlow, datastore=folder).run(size_mb=size_mb)
    total = time.perf_counter() - t0
    assert outcome.successful, outcome.failures
    run = outcome.run
    start = run["start"].task
    consume = run["consume"].task
    assert consume.data.nbytes == size_mb * 10**6
    write_s = start.record["finished_at"] - start.data.user_code_done_at
    return {"write_s": write_s, "read_s": consume.data.read_s, "run_s": total}


def _pickle(size_mb: int, folder: str) -> dict:
    import numpy as np

    data = np.frombuffer(np.random.default_rng(1).bytes(size_mb * 10**6), dtype=np.uint8)
    path = os.path.join(folder, "payload.pkl")
    t = time.perf_counter()
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
    write_s = time.perf_counter() - t
    del data
    gc.collect()
    t = time.perf_counter()
    with open(path, "rb") as f:
        back = pickle.load(f)
    read_s = time.perf_counter() - t
    assert back.nbytes == size_mb * 10**6
    return {"write_s": write_s, "read_s": read_s}


def _breakdown(size_mb: int, folder: str) -> dict:
    """Where rayflow's time goes, stage by stage, with the datastore's own functions (this process)."""
    import numpy as np

    from rayflow.datastore import BlobStore, open_storage, pack, unpickle

    value = np.frombuffer(np.random.default_rng(2).bytes(size_mb * 10**6), dtype=np.uint8).copy()
    blobs = BlobStore(open_storage(folder), "Breakdown")
    out = {"size_MB": size_mb}
    t = time.perf_counter()
    packed = pack("payload", value)
    out["pack_s"] = time.perf_counter() - t  # pickle (big buffers out of band) + SHA-256
    t = time.perf_counter()
    blobs.put_packed(packed)
    out["write_s"] = time.perf_counter() - t
    del packed, value
    gc.collect()
    key = blobs.storage.list_dir("Breakdown/blobs")[0]
    key = blobs.storage.list_dir(f"Breakdown/blobs/{key}")[0]
    t = time.perf_counter()
    payload = blobs.get_payload(key)
    out["read_verify_s"] = time.perf_counter() - t
    t = time.perf_counter()
    unpickle(payload)
    out["unpickle_s"] = time.perf_counter() - t
    return out


def main(sizes: list[int] | None = None) -> list[dict]:
    sizes = sizes or SIZES_MB
    start_ray()
    _rayflow(1, tempfile.mkdtemp(prefix="rf-warm-"))
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="rf-art-") as tmp:
            raw = _pickle(size, tmp)
            gc.collect()
            flow = _rayflow(size, os.path.join(tmp, "ds"))
        mb = float(size)
        row = {
            "size_MB": size,
            "rayflow_write_MBps": mb / flow["write_s"],
            "rayflow_read_MBps": mb / flow["read_s"],
            "pickle_write_MBps": mb / raw["write_s"],
            "pickle_read_MBps": mb / raw["read_s"],
            "rayflow_write_read_s": flow["write_s"] + flow["read_s"],
            "pickle_write_read_s": raw["write_s"] + raw["read_s"],
            "speed_vs_pickle": (raw["write_s"] + raw["read_s"])
            / (flow["write_s"] + flow["read_s"]),
            "rayflow_run_s": flow["run_s"],
        }
        rows.append(row)
        print(table([row], list(row)), flush=True)
    print("\nartifact written by one step and read by the next vs pickle.dump/load to local disk")
    print(table(rows, list(rows[0])))
    at200 = next((r for r in rows if r["size_MB"] == 200), None)
    if at200:
        print(
            f"target >= 50% of pickle-to-disk speed at 200 MB: {100 * at200['speed_vs_pickle']:.0f}%"
        )
    size = 200 if 200 in sizes else sizes[0]
    with tempfile.TemporaryDirectory(prefix="rf-art-") as tmp:
        stages = _breakdown(size, tmp)
    print(f"\nwhere the time goes at {size} MB (datastore functions, this process):")
    print(table([stages], list(stages)))
    print("saved", save("artifacts", rows, {"breakdown": stages}))
    return rows


def cli(argv: list[str]) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks artifacts")
    parser.add_argument("sizes", nargs="*", type=int, help=f"sizes in MB (default {SIZES_MB})")
    parser.add_argument("--no-1gb", action="store_true", help="leave out the 1 GB (1000 MB) size")
    args = parser.parse_args(argv)
    sizes = args.sizes or SIZES_MB
    if args.no_1gb:
        sizes = [s for s in sizes if s < 1000]
    return main(sizes)


if __name__ == "__main__":
    import sys

    cli(sys.argv[1:])
