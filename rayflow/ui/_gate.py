"""The token gate of ``rayflow ui --token``: every request must carry the token.

It may come as ``?token=`` once (answered with a cookie holding a digest of it and a redirect to
the same page without it), as that cookie afterwards, or as an ``Authorization: Bearer`` /
``X-Rayflow-Token`` header.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode

from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, RedirectResponse, Response

COOKIE = "rayflow_ui_token"
REFUSED = (
    "<!doctype html><title>rayflow ui: token required</title><h1>401: token required</h1>"
    "<p>This rayflow ui was started with a token. Open the URL it printed "
    "(with <code>?token=…</code>) or send the token in an <code>Authorization: Bearer</code> "
    "header.</p>"
)


class TokenGate:
    """ASGI middleware: every request needs the token (query once, then cookie, or a header)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token
        self.cookie = hashlib.sha256(f"rayflow-ui:{token}".encode()).hexdigest()

    def _ok(self, given: str | None, expected: str) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), expected.encode())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        query = conn.query_params.get("token")
        if query is not None and self._ok(query, self.token):
            rest = [(k, v) for k, v in conn.query_params.multi_items() if k != "token"]
            target = conn.url.path + (f"?{urlencode(rest)}" if rest else "")
            response: Response = RedirectResponse(target, status_code=303)
            response.set_cookie(COOKIE, self.cookie, httponly=True, samesite="strict", path="/")
            await response(scope, receive, send)
            return
        auth = conn.headers.get("authorization", "")
        header = (
            auth[7:] if auth.lower().startswith("bearer ") else conn.headers.get("x-rayflow-token")
        )
        if self._ok(header, self.token) or self._ok(conn.cookies.get(COOKIE), self.cookie):
            await self.app(scope, receive, send)
            return
        await HTMLResponse(REFUSED, status_code=401)(scope, receive, send)
