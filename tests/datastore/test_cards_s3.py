"""Cards are written through the Storage seam: a run on s3:// stores them and reads them back."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

FLOW = textwrap.dedent("""
    from rayflow import FlowSpec, card, current, step
    from rayflow.cards import Markdown


    class S3CardFlow(FlowSpec):
        @card(type="blank")
        @step
        def start(self):
            current.card.append(Markdown("stored on **s3**"))
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        S3CardFlow()
""")


@pytest.mark.timeout(600)
def test_a_run_on_s3_stores_its_cards_and_card_get_reads_them(s3_url, tmp_path):
    (tmp_path / "flow.py").write_text(FLOW)
    env = dict(os.environ)
    run = subprocess.run(
        [sys.executable, "flow.py", "--datastore-root", s3_url, "--quiet", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert run.returncode == 0, run.stderr
    got = subprocess.run(
        [sys.executable, "flow.py", "--datastore-root", s3_url, "card", "get", "start"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert got.returncode == 0, got.stderr
    assert "stored on <strong>s3</strong>" in got.stdout

    import rayflow
    from rayflow import Flow
    from rayflow.cards import get_cards

    rayflow.metadata(s3_url)
    try:
        (found,) = get_cards(Flow("S3CardFlow").latest_run["start"].task)
        assert found.type == "blank" and "stored on <strong>s3</strong>" in found.html
    finally:
        rayflow.metadata(None)
