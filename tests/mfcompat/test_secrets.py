"""``@secrets(sources=[...])`` as Metaflow's test/core SecretsDecoratorTest uses it: the pairs of
each source are environment variables while the step runs (inline and env providers), and a
provider rayflow lacks is one line before anything runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

FLOW = """
import json
import os

from rayflow import FlowSpec, environment, secrets, step

INLINE = {"type": "inline", "id": "1", "options": {"env_vars": {"secret_1": "Pizza", "SECRET_2": "Eels"}}}


class SecretFlow(FlowSpec):
    @secrets(sources=[INLINE, "env.PLATFORM_SECRETS"])
    @environment(vars={"PLATFORM_SECRETS": json.dumps({"DB_PASSWORD": "hunter2"})})
    @step
    def start(self):
        self.seen = {k: os.environ.get(k) for k in ("secret_1", "SECRET_2", "DB_PASSWORD")}
        self.next(self.end)

    @step
    def end(self):
        self.after = {k: os.environ.get(k) for k in ("secret_1", "SECRET_2", "DB_PASSWORD")}
"""

CLASH = """
from rayflow import FlowSpec, environment, secrets, step


class ClashFlow(FlowSpec):
    @secrets(sources=[{"type": "inline", "id": "x", "options": {"env_vars": {"TOKEN": "s3cret"}}}])
    @environment(vars={"TOKEN": "already"})
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


@pytest.mark.timeout(300)
def test_secret_sources_are_environment_variables_of_the_step_only(write_flow, run_flow):
    out = run_flow(write_flow(FLOW))
    assert out.successful, out.failures
    data = out.run["start"].task.data
    assert data.seen == {"secret_1": "Pizza", "SECRET_2": "Eels", "DB_PASSWORD": "hunter2"}
    assert out.run["end"].task.data.after == {
        "secret_1": None,
        "SECRET_2": None,
        "DB_PASSWORD": None,
    }


@pytest.mark.timeout(300)
def test_a_secret_that_would_replace_a_set_variable_fails_the_step_naming_it(write_flow, run_flow):
    out = run_flow(write_flow(CLASH))
    assert not out.successful
    label, error = out.failures[0]
    assert label.startswith("start")
    assert "@secrets on step 'start': TOKEN already set in the environment" in str(error)


@pytest.mark.parametrize(
    "source, message",
    [
        (
            '"aws-secrets-manager.db-creds"',
            "@secrets on step 'start': source 'db-creds': rayflow has no "
            "'aws-secrets-manager' secrets provider (it has: inline, env)",
        ),
        (
            '"db-creds"',
            "@secrets on step 'start': source 'db-creds': no provider named; write "
            "'TYPE.db-creds' or set RAYFLOW_DEFAULT_SECRETS_BACKEND_TYPE",
        ),
        (
            '{"type": "inline"}',
            "@secrets on step 'start': source {'type': 'inline'}: needs 'id' (str)",
        ),
    ],
)
def test_a_source_rayflow_cannot_read_is_one_line_before_the_run(write_flow, source, message):
    path = write_flow(f"""
        from rayflow import FlowSpec, secrets, step

        class NoProviderFlow(FlowSpec):
            @secrets(sources=[{source}])
            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            NoProviderFlow()
    """)
    env = {k: v for k, v in os.environ.items() if not k.endswith("DEFAULT_SECRETS_BACKEND_TYPE")}
    proc = subprocess.run(
        [sys.executable, path, "run"],
        cwd=os.path.dirname(path),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr, proc.stderr
