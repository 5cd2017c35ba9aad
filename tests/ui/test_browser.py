"""Debian's Chromium, driven by Playwright, clicking through ``rayflow ui``: home → flow → run →
task, a comparison, a sweep, and a run page that updates itself while the run is running.

Saves screenshots of the main pages in the test's temp folder, or as docs/ui-*.png when
``RAYFLOW_DOC_SHOTS=1`` (to refresh the README's pictures): a test run leaves the checkout alone.
"""

from __future__ import annotations

import os
import re

import pytest

DOCS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs"
)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(chromium):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright for Python is not installed"
    )
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, shots):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.shots_folder = shots
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> str:
    if os.environ.get("RAYFLOW_DOC_SHOTS") == "1":
        os.makedirs(DOCS, exist_ok=True)
        return DOCS
    return str(tmp_path_factory.mktemp("shots"))


def shot(page, name: str) -> None:
    folder = page.context.shots_folder  # type: ignore[attr-defined]
    page.screenshot(path=os.path.join(folder, f"ui-{name}.png"), full_page=True)


def test_click_from_home_to_a_flow_a_run_and_a_task(page, server, filled):
    from playwright.sync_api import expect

    page.goto(server.url + "/")
    expect(page.locator('tr[data-flow="FlakyFlow"]')).to_contain_text("successful")
    shot(page, "home")
    page.get_by_role("link", name="FanFlow", exact=True).click()
    expect(page).to_have_url(re.compile(r"/flows/FanFlow$"))
    rows = page.locator("#runs tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("label=")
    expect(rows.nth(0)).to_contain_text("second")
    expect(rows.nth(1)).to_contain_text("successful")
    shot(page, "flow")

    # pick both runs and compare them
    expect(page.locator("#compare-button")).to_be_disabled()
    page.check(f'input.pick[value="{filled.fan}"]')
    page.check(f'input.pick[value="{filled.fan2}"]')
    page.click("#compare-button")
    expect(page.locator('#compare tr[data-name="param:label"]')).to_have_class(
        re.compile("differs")
    )
    expect(page.locator('#compare tr[data-name="artifact:total"]')).to_contain_text("30")
    shot(page, "compare")
    page.go_back()

    page.get_by_role("link", name=filled.fan, exact=True).click()
    expect(page.locator("#run-status")).to_have_text("successful")
    expect(page.locator('#steps tr[data-step="work"] .c-done')).to_have_text("5")
    expect(page.locator("svg.graph g.step")).to_have_count(4)
    expect(page.locator("#timeline rect.bar")).to_have_count(8)
    expect(page.locator("#parameters")).to_contain_text("5")
    shot(page, "run")

    page.locator('tr[data-task="work/3"] a').click()
    expect(page.locator("#task-status")).to_have_text("done")
    expect(page.locator("pre.stdout")).to_contain_text("split 3 squared 3 -> 9")
    expect(page.locator('tr[data-artifact="square"]')).to_contain_text("int")
    expect(page.locator('tr[data-artifact="square"] pre')).to_have_text("9")
    shot(page, "task")


def test_failed_and_resumed_runs_show_the_failure_and_the_clones(page, server, filled):
    from playwright.sync_api import expect

    page.goto(f"{server.url}/runs/FlakyFlow/{filled.flaky_resumed}")
    expect(page.locator('#steps tr[data-step="work"] .c-cloned')).to_have_text("3")
    page.click("#origin-link")
    expect(page.locator("#run-status")).to_have_text("failed")
    expect(page.locator('tr[data-task="work/2"]')).to_contain_text("failed")
    page.locator('tr[data-task="work/2"] a').click()
    expect(page.locator(".exception")).to_contain_text("RuntimeError: item 2 needs the marker file")
    expect(page.locator("pre.stdout")).to_contain_text("working on item 2")
    shot(page, "task-failed")


def test_sweep_page_shows_trials_best_trial_and_history(page, server, filled):
    from playwright.sync_api import expect

    page.goto(server.url + "/sweeps")
    page.get_by_role("link", name=filled.study, exact=True).click()
    expect(page.locator("#trials tbody tr")).to_have_count(4)
    expect(page.locator("svg.history circle.trial-dot")).to_have_count(4)
    expect(page.locator("#best-trial")).to_contain_text("best: trial")
    shot(page, "sweep")
    page.locator("#best-trial a").click()
    expect(page.locator("#run-status")).to_have_text("successful")


def test_run_page_updates_itself_while_the_run_is_running(page, server, filled):
    from playwright.sync_api import expect

    from rayflow import Runner

    from .flows import SlowFlow

    handle = Runner(SlowFlow, datastore=filled.url).async_run(pause=2.0)
    try:
        page.goto(f"{server.url}/runs/SlowFlow/{handle.run_id}")
        expect(page.locator("#run-status")).to_have_text("running")
        page.evaluate("window.__sameDocument = 'yes'")
        running = page.locator('#steps tr[data-step="nap"] .c-running')
        expect(running).not_to_have_text("0", timeout=20_000)
        shot(page, "run-live")
        expect(page.locator('#steps tr[data-step="nap"] .c-done')).to_have_text("3", timeout=30_000)
        expect(page.locator("#run-status")).to_have_text("successful", timeout=30_000)
        expect(page.locator('#steps tr[data-step="end"] .c-done')).to_have_text("1")
        expect(page.locator('#tasks tr[data-task="end/0"]')).to_have_attribute(
            "data-status", "done"
        )
        expect(page.locator('#tasks tbody[data-step-tasks="nap"] tr[data-task]')).to_have_count(3)
        assert page.evaluate("window.__sameDocument") == "yes"  # updated in place, never reloaded
    finally:
        handle.wait(120)


def test_show_more_appends_the_next_tasks_of_a_big_step(page, tmp_path):
    from playwright.sync_api import expect

    from rayflow.datastore import open_storage

    from .conftest import start_server, stop_server
    from .synthetic import fan_run, run_id_at

    url = str(tmp_path / "big")
    run_id = run_id_at(1.7e9, 9)
    fan_run(open_storage(url), "BigFlow", run_id, splits=250, done=250, status="successful")
    srv = start_server(url)
    try:
        page.goto(f"{srv.url}/runs/BigFlow/{run_id}")
        rows = page.locator('#tasks tbody[data-step-tasks="work"] tr[data-task]')
        expect(rows).to_have_count(100)
        more = page.locator('tr[data-more-step="work"]')
        expect(more.locator(".more-count")).to_have_text("150")
        page.evaluate("window.__sameDocument = 'yes'")
        more.locator("a.more-link").click()
        expect(rows).to_have_count(200)
        expect(rows.nth(199)).to_have_attribute("data-task", "work/199")
        more.locator("a.more-link").click()
        expect(rows).to_have_count(250)
        expect(more).to_be_hidden()
        assert page.evaluate("window.__sameDocument") == "yes"
    finally:
        stop_server(srv)
