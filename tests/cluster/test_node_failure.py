"""A worker node dies (SIGKILL to all its processes) in the middle of a run: no finished task is
lost, and the run finishes, by itself or with ``rayflow resume``."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.cluster.conftest import REPO, rayflow
from tests.cluster.ray_cluster import RayCluster

pytestmark = pytest.mark.timeout(240)

SLOW_FLOW = """
    import time

    from rayflow import FlowSpec, step


    class SlowFlow(FlowSpec):
        @step
        def start(self):
            self.items = list(range(20))
            self.next(self.work, foreach="items")

        @step
        def work(self):
            time.sleep(0.6)
            self.value = self.input * 10
            self.next(self.join)

        @step
        def join(self, inputs):
            self.total = sum(i.value for i in inputs)
            self.next(self.end)

        @step
        def end(self):
            pass
"""


@pytest.fixture(scope="module")
def doomed_cluster(s3):
    """Head + one worker node, with Ray's node failure detection cut to ~2 s."""
    c = RayCluster(workers=1, fast_health_checks=True)
    c.env["AWS_ACCESS_KEY_ID"] = s3.access_key
    c.env["AWS_SECRET_ACCESS_KEY"] = s3.secret_key
    c.start()
    yield c
    c.stop()


def _done_splits(url: str, run_id: str) -> set[str]:
    from rayflow.datastore import open_storage, records, taskrecords

    storage = open_storage(url)
    return {
        t
        for t in records.list_tasks(storage, "SlowFlow", run_id, "work")
        if taskrecords.is_done(storage, "SlowFlow", run_id, "work", t)
    }


def test_killing_a_worker_node_mid_run_loses_no_finished_task(
    doomed_cluster, s3, s3_url, driver_env, flow_dir, tmp_path, monkeypatch
):
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    flow = flow_dir.write("slow.py", SLOW_FLOW)
    id_file = str(tmp_path / "run_id")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rayflow.cli",
            "run",
            flow,
            "--cluster",
            doomed_cluster.address,
            "--datastore",
            s3_url,
            "--run-id-file",
            id_file,
            "--quiet",
        ],
        env=driver_env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        done_before: set[str] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            if os.path.exists(id_file):
                run_id = open(id_file).read().strip()
                done_before = _done_splits(s3_url, run_id) if run_id else set()
                if len(done_before) >= 4:
                    break
            time.sleep(0.2)
        assert len(done_before) >= 4, "the run never got going"
        doomed_cluster.nodes[1].kill()
        killed = time.monotonic()
        out, err = proc.communicate(timeout=120)
        print(
            f"run ended {time.monotonic() - killed:.1f} s after the kill, exit "
            f"{proc.returncode}, {len(done_before)} splits were done"
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run_id = open(id_file).read().strip()
    assert done_before <= _done_splits(s3_url, run_id)  # nothing finished was lost
    if proc.returncode != 0:
        assert "resume" in err, err
        result = rayflow(
            "resume",
            flow,
            "--cluster",
            doomed_cluster.address,
            "--datastore",
            s3_url,
            "--origin-run-id",
            run_id,
            "--run-id-file",
            id_file,
            env=driver_env,
        )
        assert result.returncode == 0, result.stderr
        print(f"resume: {result.stdout.strip().splitlines()[-2]} in {result.seconds:.1f} s")
        cloned = int(result.stdout.split("cloned ")[1].split(" ")[0])
        assert cloned >= len(done_before) + 1  # start and every split finished before
        run_id = open(id_file).read().strip()

    import rayflow as api

    api.metadata(s3_url)
    api.namespace(None)
    try:
        run = api.Run(f"SlowFlow/{run_id}")
        assert run.successful
        assert run.data.total == sum(i * 10 for i in range(20))
    finally:
        api.metadata(None)
        api.default_namespace()
