"""``rayflow ui``'s app served by uvicorn on a free local port, in a thread, for
``benchmarks/ui.py`` to time its pages over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(url: str) -> Iterator[str]:
    import uvicorn

    from rayflow.ui import create_app

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(url), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
