"""A warm local Ray for the edit-run loop: the first local run starts it, the next ones reuse it.

``ray.init()`` of an embedded instance costs seconds on every ``rayflow run``; a Ray head that is
already running costs a connection. So a local run (unless ``RAYFLOW_WARM=0`` or ``--no-warm``)
starts the head with ``ray start --head`` as processes of their own (their own session, their own
temp dir, free ports), records it in a state file, and connects to it like any other cluster;
each run is its own Ray job, so its tasks run in fresh workers that import the code as it is now.

Reuse is safe by construction: the state lives in a folder of this user's (mode 0700, checked to
be this user's), named after everything that must match — the user, the Python interpreter and
its version, the Ray and rayflow versions and where rayflow is installed — and the recorded
facts are compared again on every reuse. An instance whose head processes are gone (or whose GCS
port no longer answers) is stopped and replaced. Starting, reusing and stopping happen under one
file lock, so two runs at once start one instance and share it.

Each driver holds a lease (a file named after its pid and start time) while it is connected; the
idle reaper (_warmreaper, a detached process) stops the instance once no live driver holds one
for the idle period (``RAYFLOW_WARM_IDLE_MINUTES``, 15 by default). A SIGKILLed driver's lease
is recognised as dead; Ray ends that driver's job and its workers itself. The embedded instance's
watchdog (_watchdog) is not used here: the instance is meant to outlive its drivers.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

from rayflow.datastore import settings

from . import _warmreaper as reaper
from ._errors import ClusterError
from ._watchdog import ENV as OWNER_ENV
from ._watchdog import program_of, start_time

_START_TIMEOUT = 180.0
_NOT_PASSED = {"_", "PWD", "OLDPWD", "SHLVL", OWNER_ENV}  # of a shell, or rayflow's own mark
_PORTS = (
    "--port",
    "--dashboard-port",
    "--ray-client-server-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--runtime-env-agent-port",
    "--metrics-export-port",
    "--node-manager-port",
    "--object-manager-port",
)


class WarmUnavailable(Exception):
    """No warm instance can be used here (e.g. the state folder is another user's): the run
    starts its own embedded Ray instead."""


def state_folder() -> str:
    """This user's folder of warm-instance state (``RAYFLOW_WARM_DIR``, else one in Ray's temp
    dir); created private, and refused when it belongs to someone else."""
    folder = settings.warm_dir() or os.path.join(
        os.environ.get("RAY_TMPDIR") or "/tmp/ray", f"rfw-{os.getuid()}"
    )
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
    except OSError as exc:
        raise WarmUnavailable(f"{folder}: {exc.strerror or exc}") from None
    if info.st_uid != os.getuid():
        raise WarmUnavailable(f"{folder} belongs to another user")
    return folder


def ray_version() -> str:
    """The installed Ray's version, without importing Ray (that takes a second)."""
    from importlib.metadata import version

    return version("ray")


def environment(ray_version: str) -> dict[str, Any]:
    """What an instance must share with a driver to be reused by it."""
    here = os.path.dirname(os.path.abspath(__file__))
    rayflow = sys.modules.get("rayflow")
    return {
        "uid": os.getuid(),
        "python": platform.python_version(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "ray": ray_version,
        "rayflow": getattr(rayflow, "__version__", "unknown"),
        "rayflow_path": here,
    }


def _key(env: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()[:12]


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:16]


class Lease:
    """A driver's use of the warm instance, from ``acquire`` to ``release``."""

    def __init__(self, state: dict[str, Any], paths: dict[str, str], started: bool) -> None:
        self.state = state
        self.paths = paths
        self.started = started  # this call started the instance (say so to the user, once)
        self.address: str = state["address"]
        me = os.getpid()
        self.path = os.path.join(paths["leases"], f"{me}-{start_time(me) or 0}")
        os.makedirs(paths["leases"], mode=0o700, exist_ok=True)
        reaper.touch(self.path)

    def env_changes(self) -> dict[str, str]:
        """Variables this driver has and the instance's processes lack or have otherwise: a
        run's tasks see the environment of the shell that started the run, as without a warm
        instance (the workers inherit the head's, which the first run set)."""
        known = self.state.get("env") or {}
        return {
            k: v for k, v in os.environ.items() if k not in _NOT_PASSED and known.get(k) != _hash(v)
        }

    def release(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass
        if os.path.exists(self.paths["state"]):
            try:
                reaper.touch(self.paths["used"])
            except OSError:
                pass


def acquire(ray_version: str) -> Lease:
    """The warm instance of this environment, started if there is none usable; held until
    ``release``."""
    env = environment(ray_version)
    folder = state_folder()
    paths = reaper.paths_of(folder, _key(env))
    with reaper.locked(paths["lock"]):
        state = reaper.read_state(paths["state"])
        if state is not None and not _usable(state, env):
            reaper.forget(paths, state, set(reaper.live_leases(paths["leases"])))
            state = None
        started = state is None
        if state is None:
            state = _start(folder, paths, env)
        elif not reaper.alive(state.get("reaper")):
            state["reaper"] = _start_reaper(folder, paths, state)
            _write(paths["state"], state)
        return Lease(state, paths, started)


def discard(lease: Lease) -> None:
    """The instance did not take a connection: stop it (the next run starts a new one)."""
    with reaper.locked(lease.paths["lock"]):
        state = reaper.read_state(lease.paths["state"])
        if state is not None and state.get("token") == lease.state["token"]:
            reaper.forget(lease.paths, state, set(reaper.live_leases(lease.paths["leases"])))


def stop_warm() -> list[str]:
    """``rayflow shutdown``: stop every warm instance of this user's now (this environment's
    and any other's, e.g. one left by an older rayflow); runs still using one fail. Their
    addresses."""
    folder = state_folder()
    stopped = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".json"):
            continue
        paths = reaper.paths_of(folder, name[: -len(".json")])
        with reaper.locked(paths["lock"]):
            state = reaper.read_state(paths["state"])
            if state is None or state.get("uid") != os.getuid():
                continue
            reaper.forget(paths, state)
        stopped.append(str(state.get("address")))
    return stopped


def _usable(state: dict[str, Any], env: dict[str, Any]) -> bool:
    if state.get("environment") != env or state.get("uid") != os.getuid():
        return False
    heads = state.get("heads") or {}
    if not heads or not all(reaper.alive(v) for v in heads.values()):
        return False
    host, _, port = str(state.get("address", "")).rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def _free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _start(folder: str, paths: dict[str, str], env: dict[str, Any]) -> dict[str, Any]:
    """``ray start --head`` in a temp dir of its own; the state of the new instance."""
    token = f"warm-{uuid.uuid4().hex[:12]}"
    temp_dir = os.path.join(folder, uuid.uuid4().hex[:6])
    state: dict[str, Any] = {
        "token": token,
        "temp_dir": temp_dir,
        "environment": env,
        "uid": os.getuid(),
        "started_at": time.time(),
    }
    child_env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    child_env[OWNER_ENV] = token
    ports = [str(p) for p in _free_ports(len(_PORTS))]
    cmd = [
        sys.executable,
        "-c",
        "import sys; from ray.scripts.scripts import main; sys.argv[0] = 'ray'; sys.exit(main())",
        "start",
        "--head",
        "--temp-dir",
        temp_dir,
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--log-style",
        "record",
        # Less to start: no autoscaler monitor (one node), no log monitor (drivers take no
        # worker logs: rayflow captures its own). (With ray[client], the Ray Client server
        # starts whatever the flags say.)
        "--no-monitor",
        "--include-log-monitor=false",
    ]
    for flag, port in zip(_PORTS, ports):
        cmd += [flag, port]
    os.makedirs(temp_dir, mode=0o700)
    log_path = os.path.join(temp_dir, "rayflow-start.log")
    try:
        with open(log_path, "w+") as log:
            done = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env,
                start_new_session=True,
                timeout=_START_TIMEOUT,
            )
            log.seek(0)
            output = log.read()
        if done.returncode != 0:
            raise ClusterError(f"cannot start a local Ray instance: {_last_error(output)}")
        with open(os.path.join(temp_dir, "ray_current_cluster")) as f:
            state["address"] = f.read().strip()
        state["heads"] = _heads(token, temp_dir)
        state["env"] = {k: _hash(v) for k, v in child_env.items() if k not in _NOT_PASSED}
        state["reaper"] = _start_reaper(folder, paths, state)
    except BaseException as exc:
        reaper.stop_instance(state)
        if isinstance(exc, (OSError, subprocess.SubprocessError)):
            raise ClusterError(f"cannot start a local Ray instance: {exc}") from None
        raise
    _write(paths["state"], state)
    reaper.touch(paths["used"])
    return state


def _last_error(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error" in ln or "error" in ln]
    return (errors or lines or ["ray start failed"])[-1][:300]


def _heads(token: str, temp_dir: str) -> dict[str, list[int]]:
    """(pid, start time) of the instance's raylet and gcs_server: its liveness."""
    heads = {}
    for pid, born in reaper._processes(token, temp_dir, {os.getpid()}):
        program = program_of(pid)
        if program in ("raylet", "gcs_server"):
            heads[program] = [pid, born]
    return heads


def _start_reaper(folder: str, paths: dict[str, str], state: dict[str, Any]) -> list[int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-I",
            os.path.abspath(reaper.__file__),
            folder,
            os.path.basename(paths["state"])[: -len(".json")],
            state["token"],
            str(settings.warm_idle_seconds()),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    return [proc.pid, start_time(proc.pid) or 0]


def _write(path: str, state: dict[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


__all__ = ["Lease", "WarmUnavailable", "acquire", "discard", "stop_warm"]
