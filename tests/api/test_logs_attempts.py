"""``rayflow logs`` of a retried task shows every attempt: the failed attempt's output explains
the retry (README: "stdout and stderr of every attempt")."""

from __future__ import annotations

from click.testing import CliRunner

from rayflow.cli import cli

RETRY_FLOW = """
from rayflow import FlowSpec, current, retry, step


class RetryLogFlow(FlowSpec):
    @retry(times=1)
    @step
    def start(self):
        print(f"try {current.retry_count}")
        if current.retry_count == 0:
            raise RuntimeError("first try fails")
        self.next(self.end)

    @step
    def end(self):
        print("end ran")
"""


def test_logs_of_a_retried_task_show_every_attempt_labelled(run_flow, write_flow, datastore):
    outcome = run_flow(write_flow(RETRY_FLOW))
    assert outcome.successful
    result = CliRunner().invoke(
        cli, ["logs", f"RetryLogFlow/{outcome.run_id}/start/0", "--datastore", datastore]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["[start/0 attempt 0] try 0", "[start/0 attempt 1] try 1"]
    assert "[start/0 attempt 0] RuntimeError: first try fails" in result.stderr.splitlines()
    single = CliRunner().invoke(
        cli, ["logs", f"RetryLogFlow/{outcome.run_id}/end", "--datastore", datastore]
    )
    assert single.stdout == "[end/0] end ran\n"
