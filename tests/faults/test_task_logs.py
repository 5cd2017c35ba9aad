"""Each task's logs are its own: output of a thread or child process that outlives its step
never lands in the log of a later task that happens to run on the same worker."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from rayflow import FlowSpec, step


def _chatter() -> None:
    for _ in range(40):
        print("ghost line from a thread of start")
        time.sleep(0.05)


class LingeringThreadFlow(FlowSpec):
    @step
    def start(self):
        threading.Thread(target=_chatter, daemon=True).start()
        script = (
            "import os, time\n"
            "for _ in range(40):\n"
            "    os.write(1, b'ghost line from a child of start\\n'); time.sleep(0.05)\n"
        )
        subprocess.Popen([sys.executable, "-c", script])
        time.sleep(0.3)
        print("start is done")
        self.pid = os.getpid()
        self.items = list(range(8))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        time.sleep(0.25)
        print(f"work {self.input}")
        self.pid = os.getpid()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.pids = [i.pid for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


def test_output_of_a_thread_that_outlives_its_step_stays_out_of_later_tasks_logs(run_flow):
    out = run_flow(LingeringThreadFlow, runner_options={"max_workers": 1})
    assert out.successful
    run = out.run
    start_pid = run["start"].task["pid"].data
    same_worker = [t for t in run["work"] if t["pid"].data == start_pid]
    assert same_worker, "no later task ran on start's worker; the test proves nothing"
    for task in run["work"]:
        assert task.stdout.splitlines() == [f"work {task.index}"], task.stdout
    for name in ("join", "end"):
        assert "ghost" not in run[name].task.stdout
    start_out = run["start"].task.stdout
    assert "start is done" in start_out
    assert "ghost line from a thread of start" in start_out
