"""Detached runs: ``rayflow run --cluster http://HEAD:PORT --detach`` on a real Ray head with its
dashboard (the job server), an s3:// datastore on SeaweedFS.

The submitting ``rayflow`` is a subprocess that has exited before the run is checked: what
finishes the run is the Ray job on the cluster. Steps wait on "gate" files in the test's
folder (the head runs on this machine), so a run can be held running while ``status`` and
``logs`` look at it, then released or cancelled, without any timing assumption.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.request

import pytest

from tests.cluster.conftest import rayflow
from tests.cluster.ray_cluster import RayCluster

pytestmark = pytest.mark.timeout(300)

GATED_FLOW = """
    import os
    import time

    from rayflow import FlowSpec, IncludeFile, Parameter, step


    class GatedFlow(FlowSpec):
        data = IncludeFile("data", default=None)
        gate = Parameter("gate", default="")
        fail_without = Parameter("fail_without", default="")

        @step
        def start(self):
            self.items = [0, 1]
            self.next(self.work, foreach="items")

        @step
        def work(self):
            if self.input == 1 and self.fail_without and not os.path.exists(self.fail_without):
                raise RuntimeError("split 1 fails until its file exists")
            while self.input == 1 and self.gate and not os.path.exists(self.gate):
                time.sleep(0.2)
            print(f"split {self.input} done")
            self.value = self.input * 10
            self.next(self.join)

        @step
        def join(self, inputs):
            self.total = sum(i.value for i in inputs)
            self.data_size = len(self.data or "")
            self.next(self.end)

        @step
        def end(self):
            print("total", self.total)
"""


@pytest.fixture(scope="module")
def head(s3):
    """One Ray head with its dashboard for the module; ``python`` on its PATH is this venv's
    (the job's entrypoint runs the cluster's own ``python``, as on a real cluster)."""
    c = RayCluster(workers=0, cpus=2, dashboard=True)
    c.env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + c.env.get("PATH", "")
    c.env["AWS_ACCESS_KEY_ID"] = s3.access_key
    c.env["AWS_SECRET_ACCESS_KEY"] = s3.secret_key
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "RAY_TMPDIR"):
        c.env.pop(name, None)
    c.start()
    _wait_for_dashboard(c)
    yield c
    c.stop()


def _wait_for_dashboard(cluster: RayCluster, timeout: float = 90.0) -> None:
    token = open(os.path.expanduser("~/.ray/auth_token")).read().strip()
    request = urllib.request.Request(
        f"{cluster.dashboard_url}/api/version", headers={"Authorization": f"Bearer {token}"}
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(
        f"the dashboard of the test head did not answer:\n{cluster.nodes[0].log_tail()}"
    )


@pytest.fixture
def reader(s3, s3_url, monkeypatch):
    """The client of this process, reading the run's s3 datastore."""
    import rayflow as api

    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    api.metadata(s3_url)
    api.namespace(None)
    yield api
    api.metadata(None)
    api.default_namespace()


@pytest.fixture
def gated(flow_dir):
    return flow_dir.write("gated.py", GATED_FLOW)


def _submit(head, flow, s3_url, env, *args):
    return rayflow(
        "run",
        flow,
        "--cluster",
        head.dashboard_url,
        "--detach",
        "--datastore",
        s3_url,
        *args,
        env=env,
        timeout=120,
    )


def _run_id(result) -> str:
    first = result.stdout.splitlines()[-5] if len(result.stdout.splitlines()) >= 5 else ""
    assert first.startswith("run GatedFlow/"), result.stdout
    return first.split()[1].split("/")[1]


def _wait_for(api, pathspec: str, until, timeout: float = 150.0):
    """The run once ``until(run)``, reading the datastore as any machine would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            run = api.Run(pathspec)
            if until(run):
                return run
        except Exception:  # noqa: BLE001 - not recorded yet
            pass
        time.sleep(0.5)
    raise AssertionError(f"{pathspec} did not get there in {timeout:.0f} s")


def test_a_detached_run_goes_on_without_its_submitter_and_is_followed_from_the_datastore(
    head, s3_url, driver_env, gated, reader, tmp_path
):
    gate, data = tmp_path / "gate", tmp_path / "data.txt"
    data.write_text("x" * 200_000)  # too big for the job's command line: goes by the datastore
    result = _submit(head, gated, s3_url, driver_env, "--gate", str(gate), "--data", str(data))

    # The submitting process has exited (0) and printed how to follow the run.
    assert result.returncode == 0, result.stderr
    run_id = _run_id(result)
    pathspec, job = f"GatedFlow/{run_id}", f"rayflow-GatedFlow-{run_id}"
    assert f"rayflow status {pathspec}" in result.stdout
    assert f"{head.dashboard_url}/#/jobs/{job}" in result.stdout

    # While split 1 waits for its gate: status and logs, read from the datastore.
    _wait_for(
        reader, pathspec, lambda r: "work" in r and any(t.finished for t in r["work"].tasks())
    )
    status = rayflow("status", pathspec, "--datastore", s3_url, env=driver_env)
    assert status.returncode == 0, status.stderr
    assert "status    running" in status.stdout
    assert f"Ray job {job} on {head.dashboard_url}" in status.stdout
    assert "ray job   RUNNING" in status.stdout
    work_row = next(
        line.split() for line in status.stdout.splitlines() if line.split()[:1] == ["work"]
    )
    assert work_row[1:] == ["1", "0", "0"]  # split 0 done, split 1 still held by its gate
    logs = rayflow("logs", pathspec, "--datastore", s3_url, env=driver_env)
    assert "[work/0] split 0 done" in logs.stdout and "split 1" not in logs.stdout

    # The same run id again: the first submission is found, nothing runs twice.
    again = _submit(head, gated, s3_url, driver_env, "--run-id", run_id, "--gate", str(gate))
    assert again.returncode == 0, again.stderr
    assert f"run {pathspec} was already submitted" in again.stdout

    gate.write_text("open")
    followed = rayflow("logs", pathspec, "--datastore", s3_url, "--follow", env=driver_env)
    assert followed.returncode == 0, followed.stderr
    assert "[work/1] split 1 done" in followed.stdout and "[end/0] total 10" in followed.stdout
    assert f"run {pathspec} successful" in followed.stderr
    run = reader.Run(pathspec)
    assert run.status == "successful" and run.data.total == 10 and run.data.data_size == 200_000
    detached = run.record["detached"]
    assert detached["cluster"] == head.dashboard_url and detached["job_id"] == job
    assert detached["flow_file"] == gated
    listed = rayflow("runs", "GatedFlow", "--datastore", s3_url, env=driver_env)
    assert run_id in listed.stdout and "successful" in listed.stdout


def test_cancel_stops_the_job_and_records_the_run_cancelled(
    head, s3_url, driver_env, gated, reader, tmp_path
):
    result = _submit(head, gated, s3_url, driver_env, "--gate", str(tmp_path / "never"))
    assert result.returncode == 0, result.stderr
    pathspec = f"GatedFlow/{_run_id(result)}"
    _wait_for(reader, pathspec, lambda r: r.status == "running")

    cancel = rayflow("cancel", pathspec, "--datastore", s3_url, env=driver_env)

    assert cancel.returncode == 0, cancel.stderr
    assert (
        f"cancelled {pathspec}: Ray job rayflow-{pathspec.replace('/', '-')} stopped"
        in cancel.stdout
    )
    assert reader.Run(pathspec).status == "cancelled"
    status = rayflow(
        "status", pathspec, "--datastore", s3_url, "--cluster", head.dashboard_url, env=driver_env
    )
    assert "status    cancelled" in status.stdout and "ray job   STOPPED" in status.stdout
    again = rayflow("cancel", pathspec, "--datastore", s3_url, env=driver_env)
    assert again.returncode == 0 and "already ended: cancelled" in again.stdout


def test_resume_detached_reruns_only_the_failed_split(
    head, s3_url, driver_env, gated, reader, tmp_path
):
    fixed = tmp_path / "fixed"
    result = _submit(head, gated, s3_url, driver_env, "--fail_without", str(fixed))
    assert result.returncode == 0, result.stderr
    origin = _run_id(result)
    assert (
        _wait_for(reader, f"GatedFlow/{origin}", lambda r: r.status != "running").status == "failed"
    )

    fixed.write_text("fixed")
    resumed = rayflow(
        "resume",
        gated,
        "--origin-run-id",
        origin,
        "--cluster",
        head.dashboard_url,
        "--detach",
        "--datastore",
        s3_url,
        env=driver_env,
        timeout=120,
    )

    assert resumed.returncode == 0, resumed.stderr
    run_id = _run_id(resumed)
    run = _wait_for(reader, f"GatedFlow/{run_id}", lambda r: r.status != "running")
    assert run.status == "successful" and run.data.total == 10
    assert run.record["origin_run_id"] == origin
    assert run["work"]["0"].origin_pathspec == f"GatedFlow/{origin}/work/0"  # cloned
    assert run["work"]["1"].origin_pathspec is None  # ran again


def _one_line(result) -> str:
    assert result.returncode != 0
    assert len(result.error_lines) == 1, result.stderr
    assert result.seconds < 15
    return result.error_lines[0]


def test_bad_cluster_addresses_and_tokens_fail_in_one_line(
    head, s3_url, driver_env, gated, tmp_path
):
    def submit(address: str, **env: str):
        return rayflow(
            "run",
            gated,
            "--cluster",
            address,
            "--detach",
            "--datastore",
            s3_url,
            env={**driver_env, **env},
        )

    line = _one_line(submit(head.address))  # the GCS address, not the dashboard's
    assert line == (
        f"error: --detach needs the address of the cluster's Ray dashboard, "
        f"http://HEAD:8265 (got '{head.address}')"
    )
    line = _one_line(submit(f"http://{head.address}"))  # an http URL, but of the GCS port
    assert line == (
        f"error: http://{head.address} is not a Ray dashboard (no HTTP answer; is "
        f"{head.port} the GCS port?); give the dashboard's port (ray start "
        "--dashboard-port, 8265 by default)"
    )
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nothing listens there: a head that is gone
    line = _one_line(submit(f"http://127.0.0.1:{port}"))
    assert line.startswith(
        f"error: cannot reach the Ray dashboard at http://127.0.0.1:{port}: connection refused"
    ), line
    with socket.socket() as silent:  # accepts connections, never answers: a hung head
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        line = _one_line(submit(url))
    assert line == f"error: cannot reach the Ray dashboard at {url}: no answer within 5 s"
    line = _one_line(submit(head.dashboard_url, HOME=str(tmp_path)))  # no ~/.ray/auth_token
    assert "requires a token and none was found" in line
    line = _one_line(submit(head.dashboard_url, RAY_AUTH_TOKEN="0" * 32))
    assert "rejected the authentication token" in line


def test_a_local_datastore_is_refused_unless_shared(head, driver_env, gated, tmp_path):
    store = str(tmp_path / "store")
    result = rayflow(
        "run",
        gated,
        "--cluster",
        head.dashboard_url,
        "--detach",
        "--datastore",
        store,
        env=driver_env,
    )
    line = _one_line(result)
    assert line.startswith(
        f"error: --detach: the datastore {store} is a local folder the cluster cannot see"
    )
    assert not os.path.exists(os.path.join(store, "GatedFlow"))


def test_other_versions_on_the_cluster_fail_the_run_in_one_line_that_status_shows(
    driver_env, gated, tmp_path
):
    """The job's driver compares its versions with the submitting machine's before it joins
    Ray; run here by hand on a spec that says it was submitted from other versions."""
    import subprocess

    from rayflow._detach import encode_spec, local_versions, run_spec

    store, run_id = str(tmp_path / "store"), "20261130T120000.000-abcdef"
    here = local_versions()
    detached = {
        "cluster": "http://head:8265",
        "job_id": f"rayflow-GatedFlow-{run_id}",
        "job_url": "http://head:8265/#/jobs/x",
        "flow_file": gated,
    }
    spec = run_spec("GatedFlow", "gated.py", run_id, store, {"gate": ""}, {}, {}, detached)
    spec["versions"] = {**here, "python": "3.0", "rayflow": "0.0.1"}

    proc = subprocess.run(
        [sys.executable, "-m", "rayflow._detached_driver", encode_spec(spec)],
        cwd=os.path.dirname(gated),
        env=driver_env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    expected = (
        f"the cluster runs Python {here['python']} (submitted from 3.0), rayflow "
        f"{here['rayflow']} (submitted from 0.0.1); install the same versions on the "
        "cluster and on the machine that submits"
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"error: {expected}"]
    status = rayflow("status", f"GatedFlow/{run_id}", "--datastore", store, env=driver_env)
    assert f"status    failed: {expected}" in status.stdout


def test_another_ray_version_on_the_head_is_refused_before_submitting():
    from rayflow._detach import check_versions, local_versions
    from rayflow._errors import DetachError
    from rayflow._jobserver import JobServer

    server = JobServer("http://head:8265")
    check_versions(server, {"ray_version": local_versions()["ray"]})
    with pytest.raises(DetachError) as caught:
        check_versions(server, {"ray_version": "2.0.0"})
    assert str(caught.value) == (
        f"the cluster at http://head:8265 runs Ray 2.0.0, this machine Ray {local_versions()['ray']}; "
        "install the same Ray version on both (pip install 'ray[default]==2.0.0')"
    )
