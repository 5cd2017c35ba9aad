"""Join a Ray cluster fast and in one line.

The address is parsed first (``auto``, ``host:port`` for the GCS, ``ray://host:port`` for Ray
Client), then its port is probed with a plain socket (``ray.init`` on a dead address can hang for
minutes), then one authenticated RPC checks the token (``ray.init`` would retry a refused token
for 20-30 s and then report a generic connection error), then ``ray.init`` runs with a bounded
connect window. Ray's C++ client logs to stderr while connecting; that output is held and shown
only if joining works.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rayflow.datastore import settings

from ._errors import ClusterError

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
            raise ClusterError(
                f"malformed cluster address {address!r}: unknown scheme '{scheme}://' ({_FORMS})"
            )
        kind = "client"
    host, sep, port_text = rest.rpartition(":")
    if (
        not sep
        or not host
        or not _HOST.match(host)
        or not port_text.isdigit()
        or not 0 < int(port_text) < 65536
    ):
        raise ClusterError(f"malformed cluster address {address!r}: {_FORMS}")
    return Address(text, kind, host.strip("[]"), int(port_text))


def _resolve_auto() -> Address:
    """``auto``: RAY_ADDRESS, else the cluster ``ray start`` recorded on this machine."""
    from ._ray_private import recorded_address

    found = recorded_address()
    if not found:
        raise ClusterError(
            "--cluster auto: no running Ray cluster found on this machine "
            "(start one with 'ray start --head', or give host:port)"
        )
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


def token_available() -> bool:
    return bool(
        os.environ.get("RAY_AUTH_TOKEN")
        or os.environ.get("RAY_AUTH_TOKEN_PATH")
        or os.path.exists(_TOKEN_FILE)
    )


def explain(exc: BaseException) -> str:
    """One line out of Ray's connection error (the cause chain holds the real reason)."""
    texts = []
    seen: BaseException | None = exc
    while seen is not None and len(texts) < 5:
        texts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    blob = "\n".join(texts)
    if "Unauthenticated" in blob or "InvalidAuthToken" in blob or "AuthenticationError" in blob:
        if not token_available():
            return (
                "the cluster requires a token and none was found (copy the head node's "
                "~/.ray/auth_token here, or set RAY_AUTH_TOKEN)"
            )
        return (
            "the cluster rejected the authentication token (use the head node's "
            "~/.ray/auth_token, or set RAY_AUTH_TOKEN to it)"
        )
    if "ray[client]" in blob or ("ray.util.client" in blob and "No module" in blob):
        return "Ray Client (ray://) needs pip install 'ray[client]'"
    first = next((line.strip() for line in texts[0].splitlines() if line.strip()), "")
    return first or type(exc).__name__


def join(ray: Any, address: str, kwargs: dict[str, Any], late: bool) -> None:
    addr = parse_address(address)
    if addr.kind == "auto":
        addr = _resolve_auto()
    if addr.port:
        _probe(addr, address)
    # Bound the connect window: GCS attempts ~1 s apart; Ray Client backoff 1+2+4 s, not 5+10+20.
    bounds = {
        "RAY_gcs_server_port_wait_time_s": _GCS_CONNECT_ATTEMPTS,
        "RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "1",
    }
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
        reason = explain(exc)
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
            raise ConnectionError(
                f"the {server} did not answer ({exc.code().name.lower()}); "
                f"is {addr.port} the right port?"
            ) from None
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


__all__ = ["Address", "explain", "join", "parse_address", "resolve_address", "token_available"]
