"""The Ray job server of a cluster (the head's dashboard, ``http://HEAD:8265``), as detached runs
use it: the address, the token, bounded requests, and the job id of a run.

Ray's ``JobSubmissionClient`` imports all of Ray (seconds on a busy machine) and sends requests
without a timeout, so a head that does not answer would hang the command. It is used only to
submit (it zips and uploads the working_dir as Ray does); the rest (the version probe, a job's
status, stopping it) are single requests of the job server's REST API with a timeout, each
failure one line: nothing listens, the host is unknown, the token is missing or refused (Ray
2.60 clusters started with ``ray start`` require the token of the head's ``~/.ray/auth_token``),
or it is not a Ray dashboard. The token is sent as an explicit ``Authorization`` header, so it
works whatever ``RAY_AUTH_MODE`` was when Ray was imported.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from ._errors import DetachError

PROBE_SECONDS = 5.0
_TOKEN_FILE = "~/.ray/auth_token"


def job_id(flow: str, run_id: str) -> str:
    """The Ray job's submission id of a run: derived from the run id, so a second submission of
    the same run finds the first instead of starting the run twice."""
    return f"rayflow-{flow}-{run_id}"


def _token() -> str | None:
    """The cluster token, where Ray itself looks: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, then
    ``~/.ray/auth_token``."""
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return os.environ["RAY_AUTH_TOKEN"].strip()
    for path in (os.environ.get("RAY_AUTH_TOKEN_PATH"), os.path.expanduser(_TOKEN_FILE)):
        if path and os.path.isfile(path):
            try:
                with open(path) as f:
                    text = f.read().strip()
            except OSError:
                continue
            if text:
                return text
    return None


@dataclass
class JobServer:
    """A cluster's job server: ``url`` without a trailing slash, the headers every request needs."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    _client: Any = field(default=None, repr=False)

    def job_url(self, submission_id: str) -> str:
        """The dashboard's page of the job."""
        return f"{self.url}/#/jobs/{submission_id}"

    def client(self) -> Any:
        """Ray's ``JobSubmissionClient`` for this server (imports Ray: call after ``probe``)."""
        if self._client is not None:
            return self._client
        import logging

        from ray.job_submission import JobSubmissionClient

        for name in ("ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging"):
            logging.getLogger(name).setLevel(logging.WARNING)  # "Uploading package ..." lines
        try:
            self._client = JobSubmissionClient(self.url, headers=dict(self.headers))
        except Exception as exc:  # noqa: BLE001 - any failure here is "cannot use the job server"
            raise DetachError(
                f"cannot use the Ray job server at {self.url}: {_first_line(exc)}"
            ) from None
        return self._client

    def call(self, method: str, path: str) -> tuple[int, Any]:
        """One request to the job's REST API within PROBE_SECONDS: (HTTP status, JSON body);
        a DetachError naming the address and the reason when there is no usable answer."""
        request = urllib.request.Request(f"{self.url}{path}", headers=self.headers, method=method)
        shown = f"the Ray dashboard at {self.url}"
        try:
            with urllib.request.urlopen(request, timeout=PROBE_SECONDS) as answer:
                code, body = answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise DetachError(
                    f"{shown} refused the request: {_http_reason(exc.code)}"
                ) from None
            return 404, None
        except urllib.error.URLError as exc:
            raise DetachError(
                f"cannot reach {shown}: {_url_reason(exc.reason, self.url)}"
            ) from None
        except TimeoutError:
            raise DetachError(
                f"cannot reach {shown}: no answer within {PROBE_SECONDS:.0f} s"
            ) from None
        except (http.client.HTTPException, ConnectionError, OSError):
            port = urllib.parse.urlsplit(self.url).port
            raise DetachError(
                f"{self.url} is not a Ray dashboard (no HTTP answer; is {port} the "
                "GCS port?); give the dashboard's port (ray start --dashboard-port, "
                "8265 by default)"
            ) from None
        try:
            return code, json.loads(body)
        except ValueError:
            raise DetachError(
                f"{self.url} answers, but not as a Ray dashboard with the job "
                "server; give the head's dashboard address (ray start "
                "--dashboard-port, 8265 by default)"
            ) from None

    def probe(self) -> dict[str, Any]:
        """``/api/version`` of the server (``ray_version`` among it)."""
        code, found = self.call("GET", "/api/version")
        if code == 404 or not isinstance(found, dict) or not found.get("ray_version"):
            raise DetachError(
                f"{self.url} answers, but not as a Ray dashboard with the job "
                "server (the head needs ray[default]; give its dashboard address, "
                "ray start --dashboard-port, 8265 by default)"
            )
        return found

    def job_state(self, submission_id: str) -> tuple[str, str] | None:
        """(status, message) of the job as Ray reports it; None when there is no such job."""
        code, info = self.call("GET", f"/api/jobs/{urllib.parse.quote(submission_id)}")
        if code == 404 or not isinstance(info, dict):
            return None
        return str(info.get("status")), str(info.get("message") or "").strip()

    def stop(self, submission_id: str) -> bool:
        """Ask Ray to stop the job (SIGTERM to its driver, SIGKILL a few seconds later); False
        when it had ended already."""
        code, answer = self.call("POST", f"/api/jobs/{urllib.parse.quote(submission_id)}/stop")
        if code == 404:
            raise DetachError(f"the Ray job server at {self.url} has no job {submission_id}")
        return bool((answer or {}).get("stopped"))


def job_server(address: str | None) -> JobServer:
    """The job server at ``address`` (``http://HEAD:PORT``); DetachError for another form."""
    text = (address or "").strip().rstrip("/")
    if not text:
        raise DetachError(
            "--detach needs --cluster http://HEAD:8265, the address of the cluster's Ray dashboard"
        )
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DetachError(
            f"--detach needs the address of the cluster's Ray dashboard, "
            f"http://HEAD:8265 (got {address!r})"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise DetachError(
            f"malformed cluster address {address!r}: the port is not a number"
        ) from None
    token = _token()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return JobServer(f"{parts.scheme}://{parts.netloc}", headers)


def _http_reason(code: int) -> str:
    if code == 401:
        return (
            "the cluster requires a token and none was found (copy the head node's "
            "~/.ray/auth_token here, or set RAY_AUTH_TOKEN)"
        )
    if code == 403:
        return (
            "the cluster rejected the authentication token (use the head node's "
            "~/.ray/auth_token, or set RAY_AUTH_TOKEN to it)"
        )
    if code == 404:
        return "no Ray job server there (the head needs ray[default] and its dashboard)"
    return f"HTTP {code}"


def _url_reason(reason: Any, url: str) -> str:
    if isinstance(reason, socket.gaierror):
        return f"unknown host '{urllib.parse.urlsplit(url).hostname}'"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no answer within {PROBE_SECONDS:.0f} s"
    if isinstance(reason, ConnectionRefusedError):
        port = urllib.parse.urlsplit(url).port
        return (
            f"connection refused (is the head node running, and is {port} its dashboard "
            "port, ray start --dashboard-port?)"
        )
    if isinstance(reason, OSError):
        return (reason.strerror or str(reason)).lower()
    return str(reason)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["JobServer", "PROBE_SECONDS", "job_id", "job_server"]
