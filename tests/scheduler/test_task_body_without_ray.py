"""A task body run outside Ray (the in-process executor of the unit tests) does not touch Ray."""

from __future__ import annotations

import os
import subprocess
import sys


def test_a_task_body_run_outside_ray_neither_imports_nor_starts_ray(tmp_path):
    # Asking Ray for the node id outside a worker used to start a local Ray instance (seconds,
    # and a cluster nobody stops); the body run in process must not touch Ray at all.
    code = (
        "import sys\n"
        "from rayflow.datastore import open_storage\n"
        "from tests.scheduler.unit.conftest import drive\n"
        "from tests.scheduler.unit.flows import Splits\n"
        f"drove = drive(Splits, open_storage({str(tmp_path / 'ds')!r}))\n"
        "assert ('end', '0') in drove.outcome.finished\n"
        "print('ray imported:', 'ray' in sys.modules)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ray imported: False"
