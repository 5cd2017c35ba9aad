"""The cluster checks as plain functions: what is shipped to the nodes, which @resources
requests no node can meet, and when a local datastore is refused. No Ray needed."""

from __future__ import annotations

import os

import pytest

from rayflow.scheduler import ClusterError
from rayflow.scheduler._cluster import (
    MiB,
    build_runtime_env,
    check_datastore,
    check_resources,
)


def _write(path, size: int = 10) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)


def _plan(**resources) -> dict:
    return {"start": {"decorators": {}}, "train": {"decorators": {"resources": resources}}}


NODE = {"Alive": True, "Resources": {"CPU": 4.0, "memory": 8.0 * 1024 * MiB}}
GPU_NODE = {"Alive": True, "Resources": {"CPU": 2.0, "GPU": 1.0, "memory": 4.0 * 1024 * MiB}}


def test_the_flow_folder_ships_without_vcs_venv_datastore_or_large_files(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://s3.local:9000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "never-shipped")
    flow = str(tmp_path / "flow.py")
    _write(flow)
    _write(str(tmp_path / "lib" / "helpers.py"))
    _write(str(tmp_path / ".git" / "objects" / "pack"), 50 * MiB)
    _write(str(tmp_path / "myenv" / "pyvenv.cfg"))
    _write(str(tmp_path / "myenv" / "lib" / "torch.so"), 5 * MiB)
    _write(str(tmp_path / "runs" / "Flow" / "blobs" / "x"), 30 * MiB)
    _write(str(tmp_path / "data" / "big file.bin"), 12 * MiB)

    env, notes = build_runtime_env(flow, str(tmp_path / "runs"))

    assert env["working_dir"] == str(tmp_path)
    excludes = env["excludes"]
    assert ".git/" in excludes and "/runs/" in excludes and "/myenv/" in excludes
    assert "/data/big\\ file.bin" in excludes
    assert env["env_vars"] == {"AWS_ENDPOINT_URL": "http://s3.local:9000"}
    assert len(notes) == 1 and "data/big file.bin (12 MiB)" in notes[0]


def test_a_callers_runtime_env_wins_and_keeps_the_forwarded_endpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://s3.local:9000")
    flow = str(tmp_path / "flow.py")
    _write(flow)
    env, _ = build_runtime_env(flow, None, {"pip": ["x"], "env_vars": {"A": "1"}})
    assert env["pip"] == ["x"]
    assert env["env_vars"] == {"AWS_ENDPOINT_URL": "http://s3.local:9000", "A": "1"}


def test_a_folder_too_big_to_ship_is_refused_naming_the_biggest_part(tmp_path):
    flow = str(tmp_path / "flow.py")
    _write(flow)
    for i in range(12):
        _write(str(tmp_path / "dataset" / f"part{i}.bin"), 9 * MiB)
    with pytest.raises(ClusterError, match=r"too big to ship.*largest: dataset \d+ MiB"):
        build_runtime_env(flow, None)


def test_a_request_no_node_can_meet_names_the_step_and_the_request():
    with pytest.raises(ClusterError) as info:
        check_resources(_plan(cpu=2, gpu=2), [NODE, GPU_NODE])
    text = str(info.value)
    assert "step 'train' asks for @resources(cpu=2, gpu=2)" in text
    assert "none of the 2 nodes" in text


def test_each_resource_must_fit_on_one_and_the_same_node():
    check_resources(_plan(cpu=2, gpu=1), [NODE, GPU_NODE])
    check_resources(_plan(cpu=4, memory=8000), [NODE, GPU_NODE])
    with pytest.raises(ClusterError, match=r"memory=9000"):
        check_resources(_plan(cpu=1, memory=9000), [NODE, GPU_NODE])
    with pytest.raises(ClusterError, match=r"cpu=3, gpu=1"):  # CPUs on one node, GPU on the other
        check_resources(_plan(cpu=3, gpu=1), [NODE, GPU_NODE])


def test_an_autoscaling_cluster_may_opt_out_of_the_resource_check(monkeypatch):
    monkeypatch.delenv("RAYFLOW_ALLOW_INFEASIBLE", raising=False)
    with pytest.raises(ClusterError, match=r"cpu=64"):
        check_resources(_plan(cpu=64), [NODE])
    monkeypatch.setenv("RAYFLOW_ALLOW_INFEASIBLE", "1")
    assert check_resources(_plan(cpu=64), [NODE]) is None  # accepted: nodes may still be added


def test_a_local_datastore_is_refused_only_on_several_nodes_unless_shared():
    check_datastore("/data/ds", True, [NODE], shared=False)
    check_datastore("s3://b/p", False, [NODE, NODE], shared=False)
    check_datastore("/mnt/nfs/ds", True, [NODE, NODE], shared=True)
    with pytest.raises(ClusterError, match=r"--datastore s3://bucket/prefix"):
        check_datastore("/data/ds", True, [NODE, NODE], shared=False)
