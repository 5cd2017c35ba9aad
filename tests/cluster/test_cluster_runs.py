"""``rayflow run --cluster ADDRESS --datastore s3://...`` on a real two-node Ray cluster."""

from __future__ import annotations

import json
import os

import pytest

from tests.cluster.conftest import rayflow

pytestmark = pytest.mark.timeout(240)

SPREAD_FLOW = """
    import os
    import time

    from helpers import square
    from rayflow import FlowSpec, Parameter, current, step


    class SpreadFlow(FlowSpec):
        n = Parameter("n", default=30)
        fail_marker = Parameter("fail_marker", default="")

        @step
        def start(self):
            self.items = list(range(self.n))
            self.next(self.square, foreach="items")

        @step
        def square(self):
            time.sleep(0.2)
            if self.fail_marker and self.input == 7 and os.path.exists(self.fail_marker):
                raise RuntimeError("split 7 fails while the marker exists")
            self.value = square(self.input)
            self.node = current.node_id
            self.sees_data = open("data.txt").read().strip() if os.path.exists("data.txt") else None
            self.sees_big = os.path.exists("big.bin")
            self.sees_datastore = os.path.exists(".rayflow")
            self.next(self.join)

        @step
        def join(self, inputs):
            self.total = sum(i.value for i in inputs)
            self.nodes = sorted({i.node for i in inputs})
            self.data = sorted({str(i.sees_data) for i in inputs})
            self.big = any(i.sees_big for i in inputs)
            self.datastore_shipped = any(i.sees_datastore for i in inputs)
            self.next(self.end)

        @step
        def end(self):
            pass
"""

HELPERS = """
    def square(x):
        return x * x
"""


@pytest.fixture
def spread_flow(flow_dir):
    flow_dir.write("helpers.py", HELPERS)
    flow_dir.write("data.txt", "shipped\n")
    return flow_dir.write("flow.py", SPREAD_FLOW)


@pytest.fixture
def s3_reader(s3, monkeypatch):
    """This process's environment pointed at the S3 server, to read what the runs wrote."""
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)


def _split_metas(url: str, flow: str, run_id: str) -> list[dict]:
    from rayflow.datastore import open_storage, records, taskrecords

    storage = open_storage(url)
    return [
        taskrecords.read_task(storage, flow, run_id, "square", task_id).to_json()
        for task_id in records.list_tasks(storage, flow, run_id, "square")
    ]


def _run_id(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def test_a_foreach_runs_across_the_nodes_with_an_s3_datastore(
    cluster, s3_url, driver_env, spread_flow, flow_dir, tmp_path, s3_reader
):
    # A large file and a local datastore folder next to the flow: neither is shipped.
    with open(os.path.join(flow_dir.path, "big.bin"), "wb") as f:
        f.truncate(11 * 1024 * 1024)
    os.makedirs(os.path.join(flow_dir.path, ".rayflow", "junk"))
    id_file = str(tmp_path / "run_id")

    result = rayflow(
        "run",
        spread_flow,
        "--cluster",
        cluster.address,
        "--datastore",
        s3_url,
        "--run-id-file",
        id_file,
        env=driver_env,
        cwd=flow_dir.path,
    )

    assert result.returncode == 0, result.stderr
    assert "big.bin" in result.stderr and "not shipped" in result.stderr
    run_id = _run_id(id_file)
    metas = _split_metas(s3_url, "SpreadFlow", run_id)
    assert len(metas) == 30
    assert all(m.get("exception") is None for m in metas)
    node_ids = {m["node_id"] for m in metas}
    assert len(node_ids) >= 2, node_ids

    # The client reads the artifacts back from s3.
    import rayflow as api

    api.metadata(s3_url)
    api.namespace(None)
    try:
        run = api.Run(f"SpreadFlow/{run_id}")
        assert run.successful
        data = run.data
        assert data.total == sum(i * i for i in range(30))
        assert set(data.nodes) == node_ids
        assert data.data == ["shipped"]  # the flow's folder is every task's working dir
        assert data.big is False and data.datastore_shipped is False
        assert run["square"]["3"].data.value == 9
    finally:
        api.metadata(None)
        api.default_namespace()


def test_resume_on_s3_reruns_only_the_failed_split(
    cluster, s3_url, driver_env, spread_flow, tmp_path, s3_reader
):
    marker = str(tmp_path / "fail-split-7")
    open(marker, "w").close()
    first_id = str(tmp_path / "first")
    first = rayflow(
        "run",
        spread_flow,
        "--cluster",
        cluster.address,
        "--datastore",
        s3_url,
        "--n",
        "12",
        "--fail_marker",
        marker,
        "--run-id-file",
        first_id,
        env=driver_env,
    )
    assert first.returncode == 1, first.stderr
    assert "square/7" in first.stderr

    os.remove(marker)
    second_id = str(tmp_path / "second")
    second = rayflow(
        "resume",
        spread_flow,
        "--cluster",
        cluster.address,
        "--datastore",
        s3_url,
        "--origin-run-id",
        _run_id(first_id),
        "--run-id-file",
        second_id,
        env=driver_env,
    )
    assert second.returncode == 0, second.stderr
    # start and the 11 good splits are cloned; split 7, the join and end run.
    assert "cloned 12 task(s), ran 3" in second.stdout
    metas = {m["task_id"]: m for m in _split_metas(s3_url, "SpreadFlow", _run_id(second_id))}
    assert metas["7"].get("origin") is None and metas["3"].get("origin")


LINEAR_FLOW = """
    from rayflow import FlowSpec, resources, step


    class TinyFlow(FlowSpec):
        @step
        def start(self):
            self.x = 1
            self.next(self.end)

        @step
        def end(self):
            pass
"""


def test_a_local_datastore_on_a_multi_node_cluster_is_refused(
    cluster, driver_env, flow_dir, tmp_path
):
    flow = flow_dir.write("tiny.py", LINEAR_FLOW)
    local = str(tmp_path / "ds")
    result = rayflow(
        "run", flow, "--cluster", cluster.address, "--datastore", local, env=driver_env
    )
    assert result.returncode != 0
    assert len(result.error_lines) == 1, result.stderr
    assert "local folder" in result.stderr and "--datastore s3://" in result.stderr
    assert "--shared-datastore" in result.stderr
    assert not os.path.exists(os.path.join(local, "TinyFlow", "runs")) or not os.listdir(
        os.path.join(local, "TinyFlow", "runs")
    )

    # Declared shared (here it is: every node runs on this machine), the same run succeeds.
    shared = rayflow(
        "run",
        flow,
        "--cluster",
        cluster.address,
        "--datastore",
        local,
        "--shared-datastore",
        env=driver_env,
    )
    assert shared.returncode == 0, shared.stderr
    runs = os.listdir(os.path.join(local, "TinyFlow", "runs"))
    assert len(runs) == 1
    with open(os.path.join(local, "TinyFlow", "runs", runs[0], "run.json")) as f:
        assert json.load(f)["status"] == "successful"


def test_a_resource_request_no_node_can_meet_fails_before_running(
    cluster, s3_url, driver_env, flow_dir, s3_reader
):
    flow = flow_dir.write(
        "big.py",
        LINEAR_FLOW.replace(
            "@step\n        def end",
            "@resources(cpu=8, memory=100)\n        @step\n        def end",
        ),
    )
    result = rayflow(
        "run", flow, "--cluster", cluster.address, "--datastore", s3_url, env=driver_env
    )
    assert result.returncode != 0
    assert len(result.error_lines) == 1, result.stderr
    line = result.error_lines[0]
    assert "step 'end'" in line and "@resources(cpu=8, memory=100)" in line
    assert "1 CPU" in line
    from rayflow.datastore import open_storage, records

    assert records.list_runs(open_storage(s3_url), "TinyFlow") == []


def test_a_wrong_cluster_token_gives_one_line_within_15_seconds(
    cluster, s3_url, driver_env, flow_dir
):
    flow = flow_dir.write("tiny.py", LINEAR_FLOW)
    env = {**driver_env, "RAY_AUTH_TOKEN": "0" * 32}
    for address in (cluster.address, cluster.client_address):
        result = rayflow("run", flow, "--cluster", address, "--datastore", s3_url, env=env)
        assert result.returncode != 0
        assert len(result.error_lines) == 1, result.stderr
        assert result.error_lines[0].startswith(
            f"error: cannot connect to Ray cluster at {address}"
        )
        assert "rejected the authentication token" in result.error_lines[0]
        assert result.seconds < 15


def test_a_missing_cluster_token_gives_one_line(cluster, s3_url, driver_env, flow_dir, tmp_path):
    flow = flow_dir.write("tiny.py", LINEAR_FLOW)
    env = {**driver_env, "HOME": str(tmp_path)}  # no ~/.ray/auth_token there
    result = rayflow("run", flow, "--cluster", cluster.address, "--datastore", s3_url, env=env)
    assert result.returncode != 0
    assert len(result.error_lines) == 1, result.stderr
    assert "requires a token and none was found" in result.error_lines[0]
    assert result.seconds < 15


def test_a_ray_client_address_runs_the_flow_on_the_cluster(
    cluster, s3_url, driver_env, flow_dir, s3_reader
):
    flow = flow_dir.write("tiny.py", LINEAR_FLOW)
    result = rayflow(
        "run", flow, "--cluster", cluster.client_address, "--datastore", s3_url, env=driver_env
    )
    assert result.returncode == 0, result.stderr
    from rayflow.datastore import open_storage, records

    storage = open_storage(s3_url)
    (run_id,) = records.list_runs(storage, "TinyFlow")
    assert records.read_run(storage, "TinyFlow", run_id)["status"] == "successful"


SWEEP_FLOW = """
    from rayflow import FlowSpec, Parameter, current, step


    class QuadOnCluster(FlowSpec):
        x = Parameter("x", default=0.0)

        @step
        def start(self):
            self.loss = (self.x - 1.0) ** 2
            self.node = current.node_id
            self.next(self.end)

        @step
        def end(self):
            pass
"""


def test_a_sweep_runs_its_trials_on_the_cluster(
    cluster, s3_url, driver_env, flow_dir, tmp_path, s3_reader
):
    import optuna

    flow = flow_dir.write("quad.py", SWEEP_FLOW)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    result = rayflow(
        "sweep",
        flow,
        "--cluster",
        cluster.address,
        "--datastore",
        s3_url,
        "--space",
        "x=float:-2:3",
        "--objective",
        "loss",
        "--trials",
        "6",
        "--concurrency",
        "2",
        "--storage",
        storage,
        "--sampler",
        "random",
        env=driver_env,
        cwd=flow_dir.path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    study = optuna.load_study(study_name="QuadOnCluster", storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 6

    import rayflow as api

    api.metadata(s3_url)
    api.namespace(None)
    try:
        for trial in done:
            run = api.Run(trial.user_attrs["run_pathspec"])
            assert run.record["cluster"] == cluster.address
            assert f"trial:{trial.number}" in run.tags
            task = run["start"].task
            assert task.data.loss == pytest.approx(trial.value)
            assert task.data.loss == pytest.approx((trial.params["x"] - 1.0) ** 2)
            assert task.data.node and task.record["node_id"] == task.data.node
    finally:
        api.metadata(None)
        api.default_namespace()
