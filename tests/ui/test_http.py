"""HTTP-level behaviour of ``rayflow ui``: pages, 404s, path traversal, the token, read-only."""

from __future__ import annotations

import http.client
import re
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import start_server, stop_server


def raw_get(base: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """GET with the path sent exactly as written (httpx would normalise '..' away)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_home_lists_every_flow_with_its_latest_run_status(server, filled):
    r = httpx.get(server.url + "/")
    assert r.status_code == 200
    for flow in ("FanFlow", "FlakyFlow", "QuadFlow"):
        assert f'href="/flows/{flow}"' in r.text
    row = re.search(r'<tr data-flow="FlakyFlow">(.*?)</tr>', r.text, re.S).group(1)
    assert filled.flaky_resumed in row and "successful" in row


def test_flow_page_lists_runs_newest_first_and_filters_by_tag_and_status(server, filled):
    r = httpx.get(server.url + "/flows/FanFlow")
    ids = re.findall(r'<tr data-run="([^"]+)"', r.text)
    assert ids == [filled.fan2, filled.fan]
    tagged = httpx.get(server.url + "/flows/FanFlow", params={"tag": "best"}).text
    assert re.findall(r'<tr data-run="([^"]+)"', tagged) == [filled.fan2]
    failed = httpx.get(server.url + "/flows/FlakyFlow", params={"status": "failed"}).text
    assert re.findall(r'<tr data-run="([^"]+)"', failed) == [filled.flaky_failed]


def test_run_page_shows_step_counts_and_the_resume_lineage(server, filled):
    text = httpx.get(f"{server.url}/runs/FlakyFlow/{filled.flaky_resumed}").text
    work = re.search(r'<tr data-step="work" data-status="(\w+)">(.*?)</tr>', text, re.S)
    assert work.group(1) == "done"
    cells = re.findall(r'class="num c-(\w+)">(\d+)<', work.group(2))
    assert dict(cells) == {"done": "1", "running": "0", "failed": "0", "cloned": "3", "cached": "0"}
    assert f'href="/runs/FlakyFlow/{filled.flaky_failed}"' in text
    failed = httpx.get(f"{server.url}/runs/FlakyFlow/{filled.flaky_failed}").text
    assert 'data-task="work/2" data-status="failed"' in failed
    assert "item 2 needs the marker file" in failed


def test_run_page_counts_tasks_taken_from_the_cache(server, filled):
    text = httpx.get(f"{server.url}/runs/CachedFlow/{filled.cached}").text
    heavy = re.search(r'<tr data-step="heavy" data-status="(\w+)">(.*?)</tr>', text, re.S)
    assert dict(re.findall(r'class="num c-(\w+)">(\d+)<', heavy.group(2)))["cached"] == "1"
    assert 'data-task="heavy/0" data-status="cached"' in text
    task = httpx.get(f"{server.url}/runs/CachedFlow/{filled.cached}/heavy/0").text
    assert 'id="task-status">cached<' in task and "heavy computed 42" in task


def test_task_page_shows_artifacts_logs_and_the_exception(server, filled):
    text = httpx.get(f"{server.url}/runs/FlakyFlow/{filled.flaky_failed}/work/2").text
    assert "RuntimeError" in text and "item 2 needs the marker file" in text
    assert "working on item 2" in text
    end = httpx.get(f"{server.url}/runs/FanFlow/{filled.fan}/end/0").text
    assert "the total is 30" in end
    summary = re.search(r'<tr data-artifact="summary">(.*?)</tr>', end, re.S).group(1)
    assert "{&#39;label&#39;: &#39;first&#39;, &#39;total&#39;: 30}" in summary
    big = re.search(r'<tr data-artifact="big_list">(.*?)</tr>', end, re.S).group(1)
    assert "100000 items" in big and len(big) < 8000  # a preview, not the whole list


def test_compare_page_highlights_differences(server, filled):
    r = httpx.get(
        f"{server.url}/flows/FanFlow/compare", params=[("run", filled.fan), ("run", filled.fan2)]
    )
    assert r.status_code == 200
    rows = dict(
        re.findall(r'<tr class="(\w*)" data-name="([^"]+)"', r.text)[i][::-1]
        for i in range(len(re.findall(r'<tr class="(\w*)" data-name="([^"]+)"', r.text)))
    )
    assert rows["param:label"] == "differs" and rows["artifact:total"] == "differs"
    assert rows["run:status"] == ""


def test_sweeps_pages_show_the_study_its_trials_and_history(server, filled):
    text = httpx.get(server.url + "/sweeps").text
    assert f'data-study="{filled.study}"' in text
    study = httpx.get(f"{server.url}/sweeps/{filled.study}").text
    assert len(re.findall(r'<tr data-trial="\d+" data-state="complete"', study)) == 4
    assert 'id="best-trial"' in study and "/runs/QuadFlow/" in study
    assert study.count('class="trial-dot"') == 4 and 'class="best-line"' in study


def test_run_api_reports_status_and_counts_as_json(server, filled):
    data = httpx.get(f"{server.url}/api/runs/FanFlow/{filled.fan}").json()
    assert data["status"] == "successful" and data["running"] is False
    assert data["steps"]["work"]["done"] == 5
    assert httpx.get(f"{server.url}/api/runs/FanFlow/nope").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/flows/NoSuchFlow",
        "/runs/FanFlow/20990101T000000.000-000000",
        "/runs/NoSuchFlow/x",
        "/runs/FanFlow/{fan}/work/99",
        "/runs/FanFlow/{fan}/nosuchstep/0",
        "/sweeps/no-such-study",
        "/nothing/here",
    ],
)
def test_unknown_things_are_a_404_page(server, filled, path):
    status, body = raw_get(server.url, path.format(fan=filled.fan))
    assert status == 404
    assert "not found" in body and "Traceback" not in body


@pytest.mark.parametrize(
    "path",
    [
        "/flows/..",
        "/flows/%2e%2e",
        "/flows/..%2f..%2fetc",
        "/runs/FanFlow/..",
        "/runs/FanFlow/%2e%2e%2f%2e%2e/start/0",
        "/runs/FanFlow/{fan}/..%2f..%2f..%2f/0",
        "/runs/FanFlow/{fan}/start/..",
        "/runs/FanFlow/{fan}/start/0%2f..%2f..%2fDONE",
        "/static/../../../../etc/passwd",
        "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/runs/..%2f..%2f..%2fetc/passwd",
        "/flows/FanFlow%2f..%2f..%2f",
    ],
)
def test_path_traversal_attempts_are_refused(server, filled, path):
    status, body = raw_get(server.url, path.format(fan=filled.fan))
    assert status in (400, 404)
    assert "root:" not in body and "Traceback" not in body


def test_foreign_host_headers_are_refused_on_loopback(server):
    # DNS rebinding: a web page served from another name must not read the dashboard
    status, _ = raw_get(server.url, "/", headers={"Host": "attacker.example"})
    assert status == 400
    assert raw_get(server.url, "/", headers={"Host": "localhost"})[0] == 200


def test_the_ui_is_read_only(server, filled):
    for method in ("POST", "PUT", "DELETE"):
        r = httpx.request(method, f"{server.url}/runs/FanFlow/{filled.fan}")
        assert r.status_code == 405


def test_token_is_required_on_every_request(filled):
    srv = start_server(filled.url, env={"RAYFLOW_UI_TOKEN": "s3cret-token"})
    try:
        assert "?token=s3cret-token" in "".join(srv.out)
        for path in ("/", "/flows/FanFlow", f"/api/runs/FanFlow/{filled.fan}", "/static/style.css"):
            assert httpx.get(srv.url + path).status_code == 401
        assert httpx.get(srv.url + "/?token=wrong").status_code == 401
        assert (
            httpx.get(srv.url + "/", headers={"Authorization": "Bearer wrong"}).status_code == 401
        )
        assert (
            httpx.get(srv.url + "/", headers={"Authorization": "Bearer s3cret-token"}).status_code
            == 200
        )
        assert (
            httpx.get(
                srv.url + "/static/style.css", headers={"X-Rayflow-Token": "s3cret-token"}
            ).status_code
            == 200
        )
        with httpx.Client(base_url=srv.url) as client:
            first = client.get("/flows/FanFlow?token=s3cret-token&status=successful")
            assert first.status_code == 303
            assert first.headers["location"] == "/flows/FanFlow?status=successful"
            assert "s3cret-token" not in first.headers["set-cookie"]  # the cookie holds a digest
            page = client.get(first.headers["location"])
            assert page.status_code == 200 and filled.fan in page.text
    finally:
        stop_server(srv)


def test_non_loopback_host_warns_and_ctrl_c_stops_cleanly(filled):
    srv = start_server(filled.url, "--host", "0.0.0.0")
    port = urlsplit(srv.url).port
    assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
    code = stop_server(srv)
    out = "".join(srv.out)
    assert "warning: listening on 0.0.0.0" in out and "--token" in out
    assert code == 0 and "rayflow ui: stopped" in out and "Traceback" not in out, out
