"""A real multi-node Ray cluster on this machine, for tests: one ``ray start --head`` and
``ray start --address`` per worker node, each with explicit ports, small resources and a
private temporary folder.

Each node has its own temporary folder, as each machine of a real cluster has its own disk. A
worker node given no ``--temp-dir`` takes the head's, so both nodes would share one session
folder and so one ``runtime_resources/working_dir_files``: Ray unpacks the shipped folder
there with overwrite, once per node, so the second node deletes and re-creates the folder the
first node's workers are running in (their working directory becomes a deleted directory and
``open("data.txt")`` fails in them). ``add_worker(share_temp_dir=True)`` builds that on purpose.

Every node runs ``ray start --block`` in its own process session, so a node is killed (to
simulate a node failure, or to stop it) by killing the processes of that session, and the
whole cluster by that plus the processes whose command line names its private ``--temp-dir``. Nothing else on the
machine is touched: never ``ray stop``.

Usage::

    with RayCluster(workers=1) as cluster:
        subprocess.run([... "--cluster", cluster.address ...], env=cluster.env)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

from tests.s3_server import HOST, free_ports

RAY = os.path.join(os.path.dirname(sys.executable), "ray")

# Fast failure detection: a killed node is declared dead in ~2 s instead of ~30 s.
FAST_HEALTH_CHECKS = {
    "RAY_health_check_initial_delay_ms": "0",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
}


class ClusterStartError(RuntimeError):
    pass


class Node:
    """One ``ray start --block`` process (and everything it started, in its session)."""

    def __init__(self, proc: subprocess.Popen[bytes], log: str, ports: list[int]) -> None:
        self.proc = proc
        self.log = log
        self.ports = ports

    def kill(self) -> None:
        """SIGKILL every process of this node: ``ray start``, raylet, agents and the workers
        (which run in their own process groups but stay in the node's session)."""
        for pid in [self.proc.pid, *_session_pids(self.proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log, "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return "(no log)"


class RayCluster:
    """A head node plus ``workers`` worker nodes, ``cpus`` CPUs each, on 127.0.0.1."""

    def __init__(
        self,
        workers: int = 1,
        cpus: int = 1,
        memory_mb: int = 512,
        object_store_mb: int = 80,
        fast_health_checks: bool = True,
        dashboard: bool = False,
    ) -> None:
        self.workers = workers
        self.cpus = cpus
        self.memory = memory_mb * 1024 * 1024
        self.object_store = object_store_mb * 1024 * 1024
        # Unix socket paths must stay short: /tmp/rfc<8 hex>/...
        self.temp_dir = f"/tmp/rfc{uuid.uuid4().hex[:8]}"
        self.logs = tempfile.mkdtemp(prefix="rfc-logs-")
        self.env = dict(os.environ)
        self.env.pop("RAY_ADDRESS", None)
        self.env["RAY_AUTH_MODE"] = "token"
        self.env["RAY_USAGE_STATS_ENABLED"] = "0"
        if fast_health_checks:
            self.env.update(FAST_HEALTH_CHECKS)
        self.port = 0
        self.dashboard_port = free_ports(1)[0] if dashboard else 0  # the head's job server too
        self.nodes: list[Node] = []
        self._node_dirs: list[str] = []
        self.startup_seconds = 0.0

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def dashboard_url(self) -> str:
        """The head's dashboard and job server (``RayCluster(dashboard=True)``)."""
        return f"http://{HOST}:{self.dashboard_port}"

    @property
    def client_address(self) -> str:
        """The head's Ray Client server (``ray://``)."""
        return f"ray://{HOST}:{self.nodes[0].ports[7]}"

    def start(self, timeout: float = 60.0) -> RayCluster:
        t0 = time.monotonic()
        atexit.register(self.stop)
        os.makedirs(self.temp_dir, exist_ok=True)
        try:
            head = self._start_node(head=True)
            self.port = head.ports[0]
            self._wait_port(head, timeout)
            for _ in range(self.workers):
                self._start_node(head=False)
            self.wait_for_nodes(1 + self.workers, timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def add_worker(self, share_temp_dir: bool = False) -> Node:
        """Start one more worker node; ``share_temp_dir`` gives it the head's temp folder (two
        raylets in one session folder, which no real cluster has)."""
        return self._start_node(head=False, share_temp_dir=share_temp_dir)

    @property
    def temp_dirs(self) -> list[str]:
        """Every node's temp folder: the head's, then ``<head's>-n<i>`` for worker node i (the
        head's path is in each, so ``stop`` finds their processes by it)."""
        return sorted(path for path in {self.temp_dir, *self._node_dirs} if os.path.isdir(path))

    def _start_node(self, head: bool, share_temp_dir: bool = False) -> Node:
        # gcs, node manager, object manager, agent listen/grpc, runtime env agent, metrics,
        # ray client server (its default 10001 would clash between clusters), then a range of
        # 40 worker ports.
        worker_lo = _free_range(40)
        ports = free_ports(8)
        while any(worker_lo <= p < worker_lo + 40 for p in ports):
            ports = free_ports(8)
        args = [
            RAY, "start", "--block", "--disable-usage-stats",
            f"--node-ip-address={HOST}",
            f"--num-cpus={self.cpus}", "--num-gpus=0",
            f"--memory={self.memory}", f"--object-store-memory={self.object_store}",
            f"--node-manager-port={ports[1]}", f"--object-manager-port={ports[2]}",
            f"--dashboard-agent-listen-port={ports[3]}", f"--dashboard-agent-grpc-port={ports[4]}",
            f"--runtime-env-agent-port={ports[5]}", f"--metrics-export-port={ports[6]}",
            f"--min-worker-port={worker_lo}", f"--max-worker-port={worker_lo + 39}",
        ]  # fmt: skip
        if head:
            args += [
                "--head",
                f"--port={ports[0]}",
                f"--temp-dir={self.temp_dir}",
                f"--ray-client-server-port={ports[7]}",
            ]
            if self.dashboard_port:
                args += [
                    "--include-dashboard=true",
                    f"--dashboard-port={self.dashboard_port}",
                    f"--dashboard-host={HOST}",
                ]
            else:
                args += ["--include-dashboard=false"]
        else:
            args += [f"--address={self.address}"]
            if not share_temp_dir:
                node_dir = f"{self.temp_dir}-n{len(self.nodes)}"
                self._node_dirs.append(node_dir)
                args += [f"--temp-dir={node_dir}"]
        log = os.path.join(self.logs, f"node{len(self.nodes)}.log")
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                args,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        node = Node(proc, log, ports)
        self.nodes.append(node)
        return node

    def _wait_port(self, head: Node, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if head.proc.poll() is not None:
                raise ClusterStartError(f"ray head exited:\n{head.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.5):
                return
            time.sleep(0.1)
        raise ClusterStartError(f"ray head not listening after {timeout:.0f} s:\n{head.log_tail()}")

    def wait_for_nodes(self, count: int, timeout: float = 60.0) -> None:
        """Until ``count`` raylets are registered: each writes a line in the head's logs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.proc.poll() is not None:
                    raise ClusterStartError(f"a ray node exited:\n{node.log_tail()}")
            if self._registered() >= count:
                return
            time.sleep(0.2)
        raise ClusterStartError(f"only {self._registered()} of {count} ray nodes registered")

    def _registered(self) -> int:
        count = 0
        for temp_dir in self.temp_dirs:
            try:
                names = os.listdir(os.path.join(temp_dir, "session_latest", "logs"))
            except OSError:
                continue
            count += sum(1 for n in names if n.startswith("raylet") and n.endswith(".out"))
        return count

    def stop(self) -> None:
        """Kill every node (test data: no graceful drain), then whatever still names our
        private temp dir."""
        for node in self.nodes:
            node.kill()
        for pid in _pids_mentioning(self.temp_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.nodes = []
        atexit.unregister(self.stop)
        for temp_dir in [self.temp_dir, *self._node_dirs]:
            shutil.rmtree(temp_dir, ignore_errors=True)
        self._node_dirs = []
        shutil.rmtree(self.logs, ignore_errors=True)

    def __enter__(self) -> RayCluster:
        if not self.nodes:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_range(size: int) -> int:
    """A start port such that ``size`` consecutive ports were free a moment ago."""
    for _ in range(50):
        base = free_ports(1)[0]
        if base + size >= 65000:
            continue
        socks = []
        try:
            for port in range(base, base + size):
                s = socket.socket()
                s.bind((HOST, port))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise ClusterStartError("no free port range")


def _session_pids(sid: int) -> list[int]:
    """Processes whose session id is ``sid`` (field 6 of /proc/PID/stat)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if int(fields[3]) == sid:
                pids.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return pids


def _pids_mentioning(text: str) -> list[int]:
    me = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    pids.append(int(entry))
        except OSError:
            continue
    return pids
