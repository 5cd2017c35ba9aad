"""Card components render to HTML that shows the user's values and never their markup."""

from __future__ import annotations

import base64

from rayflow.cards import Artifact, Image, Markdown, ProgressBar, Table, VegaChart
from rayflow.cards._types import DefaultCard, page

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


def test_markdown_renders_a_safe_subset_and_escapes_the_rest():
    html = Markdown(
        "# Title\n\n- a **b**\n- [x](javascript:alert(1)) [y](https://e.org)\n\n<img src=x>"
    ).render()
    assert "<h1>Title</h1>" in html and "<li>a <strong>b</strong></li>" in html
    assert '<a href="#">x</a>' in html and '<a href="https://e.org">y</a>' in html
    assert "&lt;img src=x&gt;" in html


def test_table_cells_may_be_components_and_values_are_escaped():
    html = Table([[Markdown("*m*"), "<b>"]], headers=["c", "d"]).render()
    assert "<th>c</th><th>d</th>" in html
    assert "<em>m</em>" in html and "<td>&lt;b&gt;</td>" in html


def test_image_bytes_are_inlined_as_a_data_url_with_their_type():
    html = Image(PNG, label="plot").render()
    assert f"data:image/png;base64,{base64.b64encode(PNG).decode()}" in html
    assert "<figcaption>plot</figcaption>" in html


def test_artifact_progress_and_vega_show_their_values():
    assert "[1, &#x27;&lt;x&gt;&#x27;]" in Artifact([1, "<x>"], name="v").render()
    bar = ProgressBar(max=10, label="epochs")
    bar.update(7)
    assert 'value="7"' in bar.render()
    chart = VegaChart({"mark": "bar", "title": "</script>"}).render()
    assert '"mark": "bar"' in chart and '</script>"' not in chart
    assert "vega-embed" in page("t", chart)


def test_the_default_card_can_be_rendered_from_any_task_like_object():
    class FakeTask:
        flow_name, run_id, step_name, id, current_attempt = "F", "1", "s", "0", 0
        pathspec = "F/1/s/0"
        artifact_sizes = {"a": 1, "_private": 1, "huge": 10 << 20}

        def __getitem__(self, name):
            return type("A", (), {"data": 42})()

    html = DefaultCard(components=["<p>c</p>"]).render(FakeTask())
    assert "<td>a</td><td>int</td><td><pre>42</pre></td>" in html
    assert "_private" not in html and "not shown" in html and "<p>c</p>" in html
