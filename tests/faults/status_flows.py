"""Flows for the run-status tests: a step that holds while a file exists."""

from __future__ import annotations

import os
import time

from rayflow import FlowSpec, Parameter, step


class HoldFlow(FlowSpec):
    """``hold`` writes ``holding`` in the folder, then waits while ``hold`` exists there."""

    folder = Parameter("folder", default="")

    @step
    def start(self):
        self.x = 1
        self.next(self.hold)

    @step
    def hold(self):
        open(os.path.join(self.folder, "holding"), "w").close()
        deadline = time.time() + 300
        while os.path.exists(os.path.join(self.folder, "hold")) and time.time() < deadline:
            time.sleep(0.1)
        self.y = self.x + 1
        self.next(self.end)

    @step
    def end(self):
        pass
