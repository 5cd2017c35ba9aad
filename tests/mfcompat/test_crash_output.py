"""Output a step printed just before its worker died (a segfault, SIGKILL) is kept in the task's
logs, as Metaflow keeps it (DetectSegFaultTest): the worker spools its output to a file beside
its fault file as it prints, and the driver stores that file when the worker is gone."""

from __future__ import annotations

import os
import signal
import sys

from rayflow import FlowSpec, Parameter, step


class DyingFlow(FlowSpec):
    how = Parameter("how", default="segv")

    @step
    def start(self):
        print("Crash and burn!")
        print("last words on stderr", file=sys.stderr)
        if self.how == "segv":
            import ctypes

            ctypes.string_at(0)
        os.kill(os.getpid(), signal.SIGKILL)
        self.next(self.end)

    @step
    def end(self):
        pass


def test_output_printed_just_before_a_segfault_is_kept_with_the_signal_named(run_flow):
    out = run_flow(DyingFlow)
    assert not out.successful
    task = out.run["start"].task
    assert task.stdout == "Crash and burn!\n"
    stderr = task.stderr
    assert stderr.startswith("last words on stderr\n")
    assert "Fatal Python error: Segmentation fault" in stderr
    assert "killed by SIGSEGV (segmentation fault)" in stderr


def test_output_printed_just_before_a_sigkill_is_kept(run_flow):
    out = run_flow(DyingFlow, how="kill")
    assert not out.successful
    task = out.run["start"].task
    assert task.stdout == "Crash and burn!\n"
    assert task.stderr == "last words on stderr\n"
