"""A flow for the damaged-datastore tests: ``start`` makes one small and one large artifact (the
large one incompressible, so it is stored as is and written with a size check only), ``use``
reads both and fails while a marker file exists."""

from __future__ import annotations

import random

from rayflow import FlowSpec, Parameter, step

from .flows import log_execution, marker


class BlobsFlow(FlowSpec):
    folder = Parameter("folder")

    @step
    def start(self):
        log_execution(self.folder)
        self.small = {"numbers": list(range(300))}
        self.large = random.Random(11).randbytes(2 << 20)
        self.next(self.use)

    @step
    def use(self):
        log_execution(self.folder)
        if marker(self.folder, "fail-use"):
            raise RuntimeError("use was told to fail")
        self.total = sum(self.small["numbers"]) + len(self.large)
        self.next(self.end)

    @step
    def end(self):
        log_execution(self.folder)
