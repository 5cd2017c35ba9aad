"""Serving the dashboard with uvicorn on a socket bound here, so a busy port is one clear error
and the printed URL is the real one (``--port 0`` picks a free port)."""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Callable
from typing import Any


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; OSError (port in use, unknown address) is the caller's to report."""
    infos = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(
    datastore: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    sweeps_storage: str | None = None,
    echo: Callable[[str], Any] = print,
) -> None:
    """Serve until Ctrl-C (uvicorn stops cleanly on SIGINT/SIGTERM)."""
    import uvicorn

    from ._app import create_app

    loopback = ["localhost", "127.0.0.1", "::1", "[::1]"] + ([host] if is_loopback(host) else [])
    app = create_app(datastore, token, sweeps_storage, loopback if is_loopback(host) else None)
    sock = bind(host, port)
    real_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{real_port}/" + (f"?token={token}" if token else "")
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    echo(f"rayflow ui: serving {app_datastore(app)} at {url}  (Ctrl-C to stop)")
    sys.stdout.flush()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn shuts down gracefully on Ctrl-C, then re-raises the signal it caught
    finally:
        sock.close()
    echo("rayflow ui: stopped")


def app_datastore(app: Any) -> str:
    while not hasattr(app, "state") and hasattr(app, "app"):
        app = app.app
    return str(getattr(getattr(app, "state", None), "datastore", "?"))
