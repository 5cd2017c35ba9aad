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

    env, shipped, notes = build_runtime_env(flow, str(tmp_path / "runs"))

    assert env["working_dir"] == str(tmp_path)
    excludes = env["excludes"]
    assert ".git/" in excludes and "/runs" in excludes and "/myenv/" in excludes
    assert "/data/big\\ file.bin" in excludes
    assert env["env_vars"] == {"AWS_ENDPOINT_URL": "http://s3.local:9000"}
    assert len(notes) == 1 and "data/big file.bin (12 MiB)" in notes[0]
    assert shipped == (
        f"shipping {tmp_path} to the cluster: 2 file(s), 20 bytes (left out: runs/ (the datastore))"
    )


def test_a_callers_runtime_env_wins_and_keeps_the_forwarded_endpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://s3.local:9000")
    flow = str(tmp_path / "flow.py")
    _write(flow)
    env, _, _ = build_runtime_env(flow, None, {"pip": ["x"], "env_vars": {"A": "1"}})
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
    monkeypatch.setenv("RAYFLOW_ALLOW_INFEASIBLE", "0")  # off, as RAYFLOW_SHARED_DATASTORE=0 is
    with pytest.raises(ClusterError, match=r"cpu=64"):
        check_resources(_plan(cpu=64), [NODE])


def test_a_local_datastore_is_refused_only_on_several_nodes_unless_shared():
    check_datastore("/data/ds", True, [NODE], shared=False)
    check_datastore("s3://b/p", False, [NODE, NODE], shared=False)
    check_datastore("/mnt/nfs/ds", True, [NODE, NODE], shared=True)
    with pytest.raises(ClusterError, match=r"--datastore s3://bucket/prefix"):
        check_datastore("/data/ds", True, [NODE, NODE], shared=False)


# -- what Ray zips: the excludes checked against Ray's own packaging code ------------------


def _zipped(folder, env) -> list[str]:
    """The files Ray's working_dir packaging (the code ``ray.init`` runs) puts in the zip."""
    import zipfile

    from ray._private.runtime_env.packaging import _zip_files

    out = os.path.join(os.path.dirname(str(folder)), "pkg.zip")
    _zip_files(str(folder), env["excludes"], out, include_gitignore=True)
    with zipfile.ZipFile(out) as z:
        return sorted(n for n in z.namelist() if not n.endswith("/"))


def _ray_session(temp_dir, zip_size: int) -> None:
    """A Ray temp dir as Ray lays it out, with a package being zipped into its session."""
    session = os.path.join(str(temp_dir), "session_2026-11-30_13-22-25_958629_13333")
    _write(os.path.join(session, "logs", "raylet.out"), 1000)
    _write(
        os.path.join(session, "runtime_resources", "working_dir_files", "_ray_pkg_1.zip"), zip_size
    )
    os.symlink(session, os.path.join(str(temp_dir), "session_latest"))


def test_rays_temp_dir_inside_the_folder_is_never_shipped(tmp_path, monkeypatch):
    proj = tmp_path / "proj"
    flow = str(proj / "flow.py")
    _write(flow)
    _write(str(proj / "lib" / "helpers.py"))
    _ray_session(proj / "raytmp", 9 * MiB)  # `ray start --temp-dir proj/raytmp`
    for i in range(12):
        _write(str(proj / "raytmp" / "session_latest" / "logs" / f"worker-{i}.out"), 9 * MiB)
    monkeypatch.setenv("RAY_TMPDIR", str(proj / "rt"))  # not made yet: Ray makes it later
    env, shipped, _ = build_runtime_env(flow, None)
    assert "/raytmp" in env["excludes"] and "/rt" in env["excludes"]
    assert shipped == (
        f"shipping {proj} to the cluster: 2 file(s), 20 bytes (left out: raytmp/ (Ray's temp dir))"
    )
    assert _zipped(proj, env) == ["flow.py", "lib/helpers.py"]


def test_the_datastore_inside_the_folder_is_never_shipped(tmp_path):
    flow = str(tmp_path / "flow.py")
    _write(flow)
    _write(str(tmp_path / ".rayflow" / "F" / "blobs" / "ab" / "abcd"), 1000)
    _write(str(tmp_path / "store" / "F" / "runs" / "r1" / "run.json"), 100)
    env, shipped, _ = build_runtime_env(flow, str(tmp_path / "store"))
    assert _zipped(tmp_path, env) == ["flow.py"]
    assert shipped.endswith("1 file(s), 10 bytes (left out: store/ (the datastore))")


def test_the_size_limit_is_raised_with_an_environment_variable(tmp_path, monkeypatch):
    flow = str(tmp_path / "flow.py")
    _write(flow)
    for i in range(12):
        _write(str(tmp_path / "dataset" / f"part{i}.bin"), 9 * MiB)
    with pytest.raises(ClusterError, match="over 100 MiB; largest: dataset 108 MiB"):
        build_runtime_env(flow, None)
    monkeypatch.setenv("RAYFLOW_MAX_SHIP_MB", "200")
    _, shipped, _ = build_runtime_env(flow, None)
    assert shipped == f"shipping {tmp_path} to the cluster: 13 file(s), 108.0 MiB"
    monkeypatch.setenv("RAYFLOW_MAX_SHIP_MB", "lots")
    with pytest.raises(ClusterError, match="RAYFLOW_MAX_SHIP_MB='lots': expected a positive"):
        build_runtime_env(flow, None)


def test_files_ray_ignores_are_not_counted_against_the_limit(tmp_path, monkeypatch):
    flow = str(tmp_path / "flow.py")
    _write(flow)
    (tmp_path / ".gitignore").write_text("*.bin\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / ".rayignore").write_text("cache/\n")
    for i in range(12):
        _write(str(tmp_path / "data" / f"part{i}.bin"), 9 * MiB)
        _write(str(tmp_path / "data" / "cache" / f"c{i}.npy"), 9 * MiB)
    _write(str(tmp_path / "data" / "labels.csv"), 100)
    env, shipped, _ = build_runtime_env(flow, None)
    assert shipped == f"shipping {tmp_path} to the cluster: 4 file(s), 123 bytes"
    assert _zipped(tmp_path, env) == [".gitignore", "data/.rayignore", "data/labels.csv", "flow.py"]
    monkeypatch.setenv("RAY_RUNTIME_ENV_IGNORE_GITIGNORE", "1")  # Ray's switch: .gitignore off
    with pytest.raises(ClusterError, match="largest: data 108 MiB"):
        build_runtime_env(flow, None)


def test_a_link_back_up_the_folder_is_not_followed_for_ever(tmp_path):
    flow = str(tmp_path / "flow.py")
    _write(flow)
    _write(str(tmp_path / "pkg" / "mod.py"))
    os.symlink(str(tmp_path), str(tmp_path / "pkg" / "root"))
    os.symlink(str(tmp_path / "pkg"), str(tmp_path / "alias"))  # not a loop: shipped twice
    env, shipped, _ = build_runtime_env(flow, None)
    assert _zipped(tmp_path, env) == ["alias/mod.py", "flow.py", "pkg/mod.py"]
    assert "3 file(s)" in shipped
