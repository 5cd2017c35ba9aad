"""``@card``: cards rendered after the task, stored beside it, read back with ``get_cards``."""

from __future__ import annotations

import pytest

import rayflow
from rayflow import Runner
from rayflow.cards import get_cards
from tests.cards.flows import CardsFlow


@pytest.fixture(scope="module")
def cards_run(ray_session, tmp_path_factory):
    """One real run of CardsFlow, read by every test here."""
    url = str(tmp_path_factory.mktemp("cards") / "ds")
    outcome = Runner(CardsFlow, datastore=url).run()
    rayflow.metadata(url)
    rayflow.namespace(None)
    yield outcome
    rayflow.metadata(None)


def _cards(run, step):
    return get_cards(run[step].task)


def test_every_card_of_a_step_is_stored_in_decorator_order(cards_run):
    assert cards_run.successful  # no card (broken, slow, unknown) fails its task
    cards = _cards(cards_run.run, "start")
    # no_such_type: named on stderr, no card; broken_card with save_errors=False: no card
    assert [(c.type, c.id) for c in cards] == [
        ("default", None),
        ("blank", "notes"),
        ("shout_card", None),
        ("broken_card", None),
    ]
    assert len({c.hash for c in cards}) == 4
    stderr = cards_run.run["start"].task.stderr  # what went wrong is in the task's own log
    assert "@card(type='no_such_type') on step 'start': no such card type; no card stored" in stderr
    assert "current.card: str is not a card component" in stderr
    assert "@card(type='broken_card') of " in stderr and "ValueError: the card's own bug" in stderr


def test_default_card_shows_the_tasks_facts_artifacts_and_appended_components(cards_run):
    task = cards_run.run["start"].task
    html = get_cards(task, type="default")[0].get()
    assert task.pathspec in html
    assert "<td>word</td><td>str</td><td><pre>&#x27;hello&#x27;</pre></td>" in html
    assert "<strong>bold</strong> &lt;script&gt;" in html  # markdown rendered, markup escaped
    assert "not a component" not in html
    assert "<th>n</th>" not in html  # the table went to the card with id "notes"


def test_components_appended_under_an_id_go_to_that_card_only(cards_run):
    (notes,) = get_cards(cards_run.run["start"].task, id="notes")
    assert "<th>n</th><th>s</th>" in notes.html and "<td>a</td>" in notes.html
    assert "bold" not in notes.html


def test_a_custom_card_type_defined_beside_the_flow_renders_on_the_worker(cards_run):
    (shout,) = get_cards(cards_run.run["start"].task, type="shout_card")
    assert shout.get() == "<b>HELLO</b> hello True"


def test_a_card_that_raises_is_stored_as_an_error_card(cards_run):
    (broken,) = get_cards(cards_run.run["start"].task, type="broken_card")
    assert "could not be rendered" in broken.html
    assert "ValueError: the card&#x27;s own bug" in broken.html
    assert "_render.py" not in broken.html  # the card's traceback, not rayflow's


def test_each_foreach_split_has_its_own_card(cards_run):
    texts = sorted(get_cards(t)[0].get() for t in cards_run.run["fan"].tasks())
    assert texts == sorted(t.pathspec for t in cards_run.run["fan"].tasks())


def test_a_task_whose_exception_catch_caught_still_gets_its_cards(cards_run):
    task = cards_run.run["join"].task
    assert task.data.failure is not None
    assert [c.get() for c in get_cards(task)] == [task.pathspec]


def test_a_card_past_its_timeout_is_an_error_card_or_nothing(cards_run):
    cards = get_cards(cards_run.run["end"].task, type="slow_card")
    assert [(c.type, c.id) for c in cards] == [("slow_card", "late")]  # save_errors=False: none
    assert "longer than the card&#x27;s timeout (1 s)" in cards[0].html
    assert "too late" not in cards[0].html


def test_a_card_that_is_not_editable_still_gets_what_is_appended_under_its_id(cards_run):
    task = cards_run.run["end"].task
    (joined,) = get_cards(task, id="j")
    assert (
        joined.get()
        == '<div class="rf-markdown"><p><em>one</em></p></div>|<div class="rf-markdown"><p>two</p></div>'
    )
    assert all("lost" not in c.get() for c in get_cards(task))  # no editable card: append is lost
    assert task.data.seen == [2, 0, 2]  # current.card.get(type=..., id=...)


def test_get_cards_takes_a_pathspec_and_filters_by_type_and_id(cards_run):
    pathspec = cards_run.run["start"].task.pathspec
    assert [c.id for c in get_cards(pathspec, type="blank")] == ["notes"]
    assert len(get_cards(pathspec, id="nope")) == 0
    assert get_cards(pathspec)[0].path.endswith(".html")


def test_rayflow_ui_lists_a_tasks_cards_and_serves_each_sandboxed(cards_run):
    from starlette.testclient import TestClient

    from rayflow.ui import create_app

    task = cards_run.run["start"].task
    client = TestClient(create_app(cards_run.datastore), raise_server_exceptions=False)
    base = f"/cards/{task.pathspec}"
    task_page = client.get(f"/runs/{task.pathspec}")
    assert task_page.status_code == 200 and f'href="{base}"' in task_page.text
    page = client.get(base)
    assert page.status_code == 200
    assert page.text.count('<iframe sandbox="allow-scripts"') == 4
    shout = next(c for c in get_cards(task) if c.type == "shout_card")
    one = client.get(f"{base}/{shout.path.rsplit('/', 1)[1]}")
    assert one.status_code == 200 and one.text == "<b>HELLO</b> hello True"
    assert one.headers["content-security-policy"] == "sandbox allow-scripts"
    assert client.get(f"{base}/00.default..0123456789abcdef.html").status_code == 404
