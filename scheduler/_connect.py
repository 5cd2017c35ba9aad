"""Start an embedded Ray instance, or join a cluster; shut down only what rayflow started.

Joining a cluster fails fast and in one line: the address is parsed first (``auto``,
``host:port`` for the GCS, ``ray://host:port`` for Ray Client), then its port is probed with a
plain socket (``ray.init`` on a dead address can hang for minutes), then one authenticated RPC
checks the token (``ray.init`` would retry a refused token for 20-30 s and then report a generic
connection error), then ``ray.init`` runs with a bounded connect window. Ray 2.60 clusters
started with ``ray start`` require a token: when one is available (``~/.ray/auth_token``,
``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH``) and ``RAY_AUTH_MODE`` is unset, token mode is
switched on — before ``import ray``, since Ray reads the variable once, at import. Ray's C++
client logs to stderr while connecting; that output is held and shown only if joining works.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rayflow.datastore import settings

from ._errors import ClusterError
from ._watchdog import ENV as OWNER_ENV
from ._watchdog import Watchdog

_TOKEN_FILE = os.path.expanduser("~/.ray/auth_token")
_PROBE_SECONDS = 3.0
# ray.init retries the GCS connection once a second, 20 times by default; 8 keeps a wrong
# token (or a GCS that accepts connections but never answers) under 15 s in all.
_GCS_CONNECT_ATTEMPTS = "8"
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.\-_]*[A-Za-z0-9])?)$")
_FORMS = "expected auto, host:port or ray://host:port"


@dataclass(frozen=True)
class Address:
    """A parsed cluster address; ``text`` is what is passed to ``ray.init``."""

    text: str
    kind: str  # "auto", "gcs" or "client"
    host: str = ""
    port: int = 0


def resolve_address(address: str | None) -> str | None:
    """The cluster address to join: the one given, else ``RAYFLOW_CLUSTER``, else None (local)."""
    chosen = address if address is not None else settings.cluster()
    chosen = (chosen or "").strip()
    return chosen or None


def parse_address(address: str) -> Address:
    """Check the form of ``address``; raise ClusterError naming it when it is malformed."""
    text = address.strip()
    if text == "auto":
        return Address(text, "auto")
    kind, rest = "gcs", text
    if "://" in text:
        scheme, rest = text.split("://", 1)
        if scheme != "ray":
            raise ClusterError(f"malformed cluster address {address!r}: unknown scheme "
                               f"'{scheme}://' ({_FORMS})")
        kind = "client"
    host, sep, port_text = rest.rpartition(":")
    if not sep or not host or not _HOST.match(host) or not port_text.isdigit() \
            or not 0 < int(port_text) < 65536:
        raise ClusterError(f"malformed cluster address {address!r}: {_FORMS}")
    return Address(text, kind, host.strip("[]"), int(port_text))


def _resolve_auto() -> Address:
    """``auto``: RAY_ADDRESS, else the cluster ``ray start`` recorded on this machine."""
    from ._ray_private import recorded_address

    found = recorded_address()
    if not found:
        raise ClusterError("--cluster auto: no running Ray cluster found on this machine "
                           "(start one with 'ray start --head', or give host:port)")
    return parse_address(found) if "://" in found or ":" in found else Address(found, "auto")


def _probe(addr: Address, shown: str) -> None:
    """Fail in a few seconds when nothing listens at the address (ray.init would hang)."""
    role = "Ray Client server port" if addr.kind == "client" else "GCS port (ray start --port)"
    hint = f" (is the head node running, and is {addr.port} its {role}?)"
    try:
        with socket.create_connection((addr.host, addr.port), timeout=_PROBE_SECONDS):
            return
    except socket.gaierror:
        reason, hint = f"unknown host '{addr.host}'", ""
    except TimeoutError:
        reason = f"no answer within {_PROBE_SECONDS:.0f} s"
    except OSError as exc:
        reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
    raise ClusterError(f"cannot reach Ray cluster at {shown}: {reason}{hint}")


def _token_available() -> bool:
    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                or os.path.exists(_TOKEN_FILE))


def _explain(exc: BaseException) -> str:
    """One line out of Ray's connection error (the cause chain holds the real reason)."""
    texts = []
    seen: BaseException | None = exc
    while seen is not None and len(texts) < 5:
        texts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    blob = "\n".join(texts)
    if "Unauthenticated" in blob or "InvalidAuthToken" in blob or "AuthenticationError" in blob:
        if not _token_available():
            return ("the cluster requires a token and none was found (copy the head node's "
                    "~/.ray/auth_token here, or set RAY_AUTH_TOKEN)")
        return ("the cluster rejected the authentication token (use the head node's "
                "~/.ray/auth_token, or set RAY_AUTH_TOKEN to it)")
    if "ray[client]" in blob or ("ray.util.client" in blob and "No module" in blob):
        return "Ray Client (ray://) needs pip install 'ray[client]'"
    first = next((line.strip() for line in texts[0].splitlines() if line.strip()), "")
    return first or type(exc).__name__


def connect(address: str | None = None, num_cpus: int | None = None,
            runtime_env: dict[str, Any] | None = None, warm: bool = False) -> bool:
    """Make sure Ray is initialised; True when the caller shares this module's use of it and
    must call ``shutdown(True)`` once at its end.

    Ray is owned once per process: the first caller starts it (or joins ``address``, or
    ``RAYFLOW_CLUSTER``; ``warm``: connects to the warm local instance, see _warm), later
    callers share it while it is up, and the last one to end shuts it down — so two runs of one
    process (``AsyncRun``) never stop Ray under each other. Ray initialised by someone else (a
    notebook's ``ray.init``, a test session) is used and never shut down (False). Every failure
    is a ClusterError with one line naming the address.
    """
    global _users
    address = resolve_address(address)
    with _owner:
        if _users:
            _users += 1
            return True
        late = False
        if address and _token_available() and not os.environ.get("RAY_AUTH_MODE"):
            # Ray reads RAY_AUTH_MODE once, when it is imported: set it before that.
            late = "ray" in sys.modules
            os.environ["RAY_AUTH_MODE"] = "token"
        warm = warm and not address and settings.warm() and _may_use_token()
        import ray

        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR,
                                  "configure_logging": True}
        if runtime_env:
            kwargs["runtime_env"] = runtime_env
        if address:
            _join(ray, address, kwargs, late)
        elif not (warm and _join_warm(ray, kwargs)):
            os.environ.setdefault("RAY_TMPDIR", "/tmp/ray")
            _in_lasting_thread(lambda: _start_local(ray, num_cpus, kwargs))
        _users = 1
        return True


def _in_lasting_thread(start: Callable[[], None]) -> None:
    """Run ``start`` from a thread that lasts until ``shutdown``: Ray ties the head processes
    it starts to the starting thread (PR_SET_PDEATHSIG fires when that thread ends), so a run in
    a thread that ends (``AsyncRun``) would take Ray down under the runs sharing it."""
    global _keeper
    if threading.current_thread() is threading.main_thread():
        start()
        return
    outcome: list[BaseException | None] = []
    begun, keeper = threading.Event(), threading.Event()

    def body() -> None:
        try:
            start()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            outcome.append(exc)
        begun.set()
        if outcome[0] is None:
            keeper.wait()

    threading.Thread(target=body, name="rayflow-ray-owner", daemon=True).start()
    begun.wait()
    if outcome[0] is not None:
        raise outcome[0]
    _keeper = keeper


def _may_use_token() -> bool:
    """A warm instance takes token-authenticated connections: Ray must not have been imported
    with another auth mode (it reads the variable once)."""
    if os.environ.get("RAY_AUTH_MODE") in (None, ""):
        if "ray" in sys.modules:
            return False
        os.environ["RAY_AUTH_MODE"] = "token"
    return os.environ["RAY_AUTH_MODE"] == "token"


def _join_warm(ray: Any, kwargs: dict[str, Any]) -> bool:
    """Connect to the warm local instance (started if needed); False when none can be used
    here (then the caller starts an embedded one). An instance that does not take the
    connection is replaced once."""
    global _lease
    from . import _warm

    for attempt in (1, 2):
        try:
            lease = _warm.acquire(ray.__version__)
        except _warm.WarmUnavailable:
            return False
        changes = lease.env_changes()
        options = dict(kwargs)
        if changes:
            env = dict(options.get("runtime_env") or {})
            env["env_vars"] = {**changes, **(env.get("env_vars") or {})}
            options["runtime_env"] = env
        try:
            ray.init(address=lease.address, **options)
        except Exception as exc:  # noqa: BLE001 - a broken instance: replace it once
            if ray.is_initialized():
                ray.shutdown()
            lease.release()
            _warm.discard(lease)
            if attempt == 2:
                raise ClusterError(f"cannot use the warm local Ray instance: {_explain(exc)}") from None
            continue
        _lease = lease
        from ._prime import prime_worker

        prime_worker()
        return True
    return False


def warm_started() -> bool:
    """This process's connection started the warm instance (the user is told so, once)."""
    return _lease is not None and _lease.started


def connected_warm() -> bool:
    return _lease is not None


# Ray is per-process state, so its owner is too: the lock, how many runs use the Ray this module
# started or joined, the watchdog of an embedded instance, the lease on a warm one.
_owner = threading.RLock()
_users = 0
_watchdog: Watchdog | None = None
_lease: Any = None
_keeper: threading.Event | None = None  # ends the thread that started the embedded instance
_linger = False  # see linger_until_exit


def _start_local(ray: Any, num_cpus: int | None, kwargs: dict[str, Any]) -> None:
    """``ray.init`` a local instance with a watchdog that ends its processes if this driver dies
    (see _watchdog: the token in the environment marks every process of this instance)."""
    global _watchdog
    watchdog = Watchdog.start()
    if watchdog is not None:
        os.environ[OWNER_ENV] = watchdog.token
    try:
        context = ray.init(num_cpus=num_cpus, include_dashboard=False, **kwargs)
    except BaseException as exc:
        if ray.is_initialized():
            ray.shutdown()
        if watchdog is not None:
            watchdog.stop()
        if not isinstance(exc, Exception):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterError(f"cannot start a local Ray instance: {first}") from None
    finally:
        os.environ.pop(OWNER_ENV, None)
    _watchdog = watchdog
    if watchdog is not None:
        info = getattr(context, "address_info", None) or {}
        watchdog.started(info.get("session_dir"))


def local_ray_died() -> str | None:
    """What died, when a head process (raylet, gcs_server) of the local instance this process
    started is gone: Ray would otherwise end the driver itself, in C++, some seconds later."""
    return _watchdog.dead_head() if _watchdog is not None else None


def _join(ray: Any, address: str, kwargs: dict[str, Any], late: bool) -> None:
    addr = parse_address(address)
    if addr.kind == "auto":
        addr = _resolve_auto()
    if addr.port:
        _probe(addr, address)
    # Bound the connect window: GCS attempts ~1 s apart; Ray Client backoff 1+2+4 s, not 5+10+20.
    bounds = {"RAY_gcs_server_port_wait_time_s": _GCS_CONNECT_ATTEMPTS,
              "RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "1"}
    added = [name for name in bounds if name not in os.environ]
    for name in added:
        os.environ[name] = bounds[name]
    try:
        if addr.port:
            _preflight(addr)
        with _held_stderr() as held:
            ray.init(address=addr.text, **kwargs)
            held.ok = True
    except Exception as exc:  # noqa: BLE001 - every failure here is "cannot join the cluster"
        if ray.is_initialized():
            ray.shutdown()
        reason = _explain(exc)
        if late and "token" in reason:
            reason += "; set RAY_AUTH_MODE=token before starting Python (Ray was imported first)"
        raise ClusterError(f"cannot connect to Ray cluster at {address}: {reason}") from None
    finally:
        for name in added:
            os.environ.pop(name, None)


def _preflight(addr: Address) -> None:
    """One cheap RPC with Ray's own auth interceptors (GetClusterId to the GCS, PING to a Ray
    Client server): a refused token is UNAUTHENTICATED at once here, while ``ray.init`` retries
    it for many seconds and ends with a generic error."""
    try:
        import grpc
    except ImportError:
        return  # ray.init reports what is missing
    from ._ray_private import ping

    try:
        ping(addr.host, addr.port, addr.kind == "client", _PROBE_SECONDS)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise ConnectionError(f"Unauthenticated: {exc.details()}") from None
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            server = "Ray Client server" if addr.kind == "client" else "GCS"
            raise ConnectionError(f"the {server} did not answer ({exc.code().name.lower()}); "
                                  f"is {addr.port} the right port?") from None
        # anything else (e.g. an older server without this RPC): let ray.init decide


class _Held:
    """What was written to file descriptor 2 while it was held; replayed if ``ok``."""

    def __init__(self, file: Any) -> None:
        self.file = file
        self.ok = False

    def replay(self) -> None:
        if not self.ok:
            return
        self.file.seek(0)
        text = self.file.read()
        if text:
            sys.stderr.write(text.decode("utf-8", "replace"))
            sys.stderr.flush()


@contextlib.contextmanager
def _held_stderr() -> Iterator[_Held]:
    """Hold what Ray's C++ client writes to stderr (a warning per failed connection attempt,
    ~1/s) while joining, so a failure is reported in one line; replayed on success."""
    with tempfile.TemporaryFile() as file:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no real stderr (e.g. captured by a notebook)
            yield _Held(file)
            return
        os.dup2(file.fileno(), 2)
        held = _Held(file)
        try:
            yield held
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.replay()


def shutdown(started: bool) -> None:
    """End one use that ``connect`` returned True for; the last one disconnects (or stops the
    embedded instance; a warm instance stays up for the next run)."""
    global _watchdog, _users, _lease, _keeper
    if not started:
        return
    with _owner:
        _users -= 1
        if _users > 0:
            return
        _users = 0
        if _lease is not None and _linger:
            return  # left to exit_now: the process ends in a moment
        import ray

        ray.shutdown()
        _session_ended()
        if _watchdog is not None:
            _watchdog.stop()
            _watchdog = None
        if _lease is not None:
            _lease.release()
            _lease = None
        if _keeper is not None:
            _keeper.set()
            _keeper = None


def linger_until_exit() -> None:
    """The calling process ends right after its run (the ``rayflow`` program): its connection to
    a warm instance is left open at the run's end and ``exit_now`` ends the process without
    disconnecting — Ray's disconnect costs ~0.4 s, and the instance ends the job of a driver
    that is gone (as after a SIGKILL) anyway."""
    global _linger
    _linger = True


def exit_now(code: int) -> None:
    """End the process with ``code`` at once when a warm connection was left open for it (its
    output flushed, its lease released); else return."""
    if _lease is None or not _linger or _users:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    _lease.release()
    os._exit(code)


def _session_ended() -> None:
    """Handles into the session just ended are dead: the live-log reader drops its actor."""
    sink = sys.modules.get(f"{__package__}._logsink")
    if sink is not None:
        sink.SinkReader.forget()


def cluster_cpus() -> int:
    import ray

    try:
        return max(1, int(ray.cluster_resources().get("CPU", 1)))
    except Exception:  # noqa: BLE001
        return 1
