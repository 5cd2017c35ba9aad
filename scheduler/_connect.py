"""Ray, owned once per process: an embedded local instance, the warm local one, or a cluster.

The first run of a process starts Ray (or joins ``--cluster``: _join; or connects to the warm
local instance: _warm) and the last one to end shuts it down; only what rayflow started is ever
stopped. Ray 2.60 clusters started with ``ray start`` require a token: when one is available
(``~/.ray/auth_token``, ``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH``) and ``RAY_AUTH_MODE`` is
unset, token mode is switched on — before ``import ray``, since Ray reads the variable once, at
import.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from rayflow.datastore import settings

from ._errors import ClusterError
from ._join import explain, join, resolve_address, token_available
from ._watchdog import ENV as OWNER_ENV
from ._watchdog import Watchdog


def connect(
    address: str | None = None,
    num_cpus: int | None = None,
    runtime_env: dict[str, Any] | None = None,
    warm: bool = False,
) -> bool:
    """Make sure Ray is initialised; True when the caller shares this module's use of it and
    must call ``shutdown(True)`` once at its end.

    Ray is owned once per process: the first caller starts it (or joins ``address``, or
    ``RAYFLOW_CLUSTER``; ``warm``: connects to the warm local instance, see _warm), later
    callers share it while it is up, and the last one to end shuts it down — so two runs of one
    process (``AsyncRun``) never stop Ray under each other. Ray initialised by someone else (a
    notebook's ``ray.init``, a test session) is used and never shut down (False). Every failure
    is a ClusterError with one line naming the address.
    """
    global _users, _embedded
    address = resolve_address(address)
    with _owner:
        if _users:
            _users += 1
            return True
        late = False
        if address and token_available() and not os.environ.get("RAY_AUTH_MODE"):
            # Ray reads RAY_AUTH_MODE once, when it is imported: set it before that.
            late = "ray" in sys.modules
            os.environ["RAY_AUTH_MODE"] = "token"
        warm = warm and not address and settings.warm() and _may_use_token()
        if not warm and _early:
            with contextlib.suppress(Exception):
                _early_lease().release()
        import ray

        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {
            "log_to_driver": False,
            "logging_level": logging.ERROR,
            "configure_logging": True,
        }
        if runtime_env:
            kwargs["runtime_env"] = runtime_env
        if address:
            join(ray, address, kwargs, late)
        elif not (warm and _join_warm(ray, kwargs)):
            os.environ.setdefault("RAY_TMPDIR", "/tmp/ray")
            _in_lasting_thread(lambda: _start_local(ray, num_cpus, kwargs))
            _embedded = True
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
            lease = _early_lease() or _warm.acquire(_warm.ray_version())
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
                raise ClusterError(
                    f"cannot use the warm local Ray instance: {explain(exc)}"
                ) from None
            continue
        _lease = lease
        from ._prime import prime_worker

        prime_worker()
        return True
    return False


def prepare_warm(cluster: str | None) -> None:
    """A local run is coming (``rayflow run``): find or start the warm local Ray now, in a
    thread, so that ``ray start`` runs while this process loads the flow, lints it and imports
    Ray; ``connect(warm=True)`` takes the lease it got."""
    if resolve_address(cluster) or not settings.warm() or _users or _early:
        return
    if not _may_use_token():
        return
    from . import _warm

    holder: dict[str, Any] = {}

    def body() -> None:
        try:
            holder["lease"] = _warm.acquire(_warm.ray_version())
        except BaseException as exc:  # noqa: BLE001 - raised by connect, in the caller's thread
            holder["error"] = exc

    thread = threading.Thread(target=body, name="rayflow-warm-start", daemon=True)
    thread.start()
    _early.append((thread, holder))


def _early_lease() -> Any:
    """The lease ``prepare_warm`` got (waiting for it), or None when it was not called."""
    if not _early:
        return None
    thread, holder = _early.pop()
    thread.join()
    if "error" in holder:
        raise holder["error"]
    return holder["lease"]


def local_own() -> bool:
    """The Ray in use is one this module started here (embedded) or the warm local instance:
    every worker runs on this machine."""
    return _users > 0 and (_lease is not None or _embedded)


def shared() -> bool:
    """More than one run of this process uses the Ray this module owns (so one run's end does
    not shut it down, and an interrupted run must cancel its own tasks)."""
    return _users > 1


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
_embedded = False  # this module started the (embedded) instance in use
_early: list[tuple[threading.Thread, dict[str, Any]]] = []  # see prepare_warm


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


def shutdown(started: bool) -> None:
    """End one use that ``connect`` returned True for; the last one disconnects (or stops the
    embedded instance; a warm instance stays up for the next run)."""
    global _watchdog, _users, _lease, _keeper, _embedded
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
        _embedded = False
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
