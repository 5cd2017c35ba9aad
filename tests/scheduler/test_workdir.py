"""A worker whose working directory was deleted and re-created goes back into it before a task
(scheduler/_workdir.py). Run in a subprocess: the test process keeps its own working dir."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

WORKER = textwrap.dedent("""
    import os, shutil, sys
    from rayflow.scheduler._workdir import reenter_shipped_folder

    folder = os.environ["PWD"]
    print(reenter_shipped_folder())  # nothing to do: the folder is there
    shutil.rmtree(folder)  # what Ray's unpacking with overwrite does under a live worker
    os.makedirs(folder)
    with open(os.path.join(folder, "data.txt"), "w") as f:
        f.write("unpacked again")
    print(os.path.exists("data.txt"))
    print(reenter_shipped_folder() == folder)
    print(open("data.txt").read())
""")


def test_a_worker_goes_back_into_its_shipped_folder_after_it_was_recreated(tmp_path):
    folder = tmp_path / "_ray_pkg_0123abcd"
    folder.mkdir()
    (folder / "data.txt").write_text("shipped")
    env = {**os.environ, "PWD": str(folder)}
    out = subprocess.run(
        [sys.executable, "-c", WORKER],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["None", "False", "True", "unpacked again"]
