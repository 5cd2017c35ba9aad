"""Every task runs in the shipped folder, even on a worker whose folder Ray re-created.

Two raylets in one session folder share Ray's unpacked ``working_dir``; the node that unpacks
it second deletes and re-creates it under the first node's live workers (see
tests/cluster/ray_cluster.py and scheduler/_workdir.py). This built that on purpose: the start
step runs on the head alone, a worker node sharing the head's temp folder joins and unpacks
the folder again, then the foreach splits run, some of them in the start step's own worker.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time

import pytest

from tests.cluster.conftest import REPO, clean_env
from tests.cluster.ray_cluster import RayCluster

pytestmark = pytest.mark.timeout(240)

GATE_FLOW = """
    import os
    import time

    from rayflow import FlowSpec, Parameter, current, step


    class GateFlow(FlowSpec):
        gate = Parameter("gate", default="")

        @step
        def start(self):
            self.start_pid = os.getpid()
            open(self.gate + ".started", "w").close()
            deadline = time.time() + 150
            while not os.path.exists(self.gate) and time.time() < deadline:
                time.sleep(0.1)
            self.items = list(range(8))
            self.next(self.work, foreach="items")

        @step
        def work(self):
            time.sleep(0.3)
            self.sees_data = open("data.txt").read().strip() if os.path.exists("data.txt") else None
            self.pid = os.getpid()
            self.node = current.node_id
            self.next(self.join)

        @step
        def join(self, inputs):
            self.data = sorted({str(i.sees_data) for i in inputs})
            self.nodes = sorted({i.node for i in inputs})
            self.in_start_worker = [i.sees_data for i in inputs if i.pid == inputs[0].start_pid]
            self.next(self.end)

        @step
        def end(self):
            pass
"""


@pytest.fixture
def head_only():
    c = RayCluster(workers=0)
    c.start()
    yield c
    c.stop()


def _wait_for(what: str, check, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _unpacked(cluster: RayCluster) -> str | None:
    pattern = os.path.join(
        cluster.temp_dir, "session_latest", "runtime_resources", "working_dir_files", "_ray_pkg_*"
    )
    dirs = [p for p in glob.glob(pattern) if os.path.isdir(p)]
    return dirs[0] if dirs else None


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def test_every_split_runs_in_the_shipped_folder_after_another_node_unpacked_it_again(
    head_only, flow_dir, tmp_path
):
    flow = flow_dir.write("gate.py", GATE_FLOW)
    flow_dir.write("data.txt", "shipped\n")
    gate, ds = str(tmp_path / "gate"), str(tmp_path / "ds")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rayflow.cli",
            "run",
            flow,
            "--cluster",
            head_only.address,
            "--datastore",
            ds,
            "--shared-datastore",
            "--gate",
            gate,
        ],
        env=clean_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for("the start step", lambda: os.path.exists(gate + ".started"))
        folder = _unpacked(head_only)
        assert folder is not None
        before = _inode(folder)
        head_only.add_worker(share_temp_dir=True)
        head_only.wait_for_nodes(2)
        # Ray unpacks the job's folder on the new node as it joins: the same path, re-created.
        _wait_for(
            "the second node to unpack the folder", lambda: _inode(folder) not in (None, before)
        )
        open(gate, "w").close()
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err

    import rayflow as api

    api.metadata(ds)
    api.namespace(None)
    try:
        data = api.Flow("GateFlow").latest_run.data
        assert len(data.nodes) == 2, data.nodes
        assert data.in_start_worker, "no split ran in the start step's worker"
        assert data.data == ["shipped"]  # also in the worker whose folder was re-created
    finally:
        api.metadata(None)
        api.default_namespace()
