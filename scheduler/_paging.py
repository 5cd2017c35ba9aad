"""The driver's side of the done pages (``datastore.pages``): every finished record it learns of,
from a task's result or from a clone, goes into the run's pages.

``PagedExecutor`` wraps the executor: a successful result hands over its record (written by the
task before it reported success, so already durable) and drops it, so the driver keeps no
records; before a join over many inputs is submitted, the pages of its inputs' steps are written,
so the join reads its inputs from a few pages. ``Cloners`` is the driver's cloner (resume, then
the cache); clone records go into the pages once written.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from rayflow.datastore import pages

from ._identity import TaskSpec
from ._result import TaskResult


class PagedExecutor:
    def __init__(self, inner: Any, writer: pages.PageWriter, plan: dict[str, Any]) -> None:
        self.inner = inner
        self.writer = writer
        self.plan = plan

    def submit(self, spec: TaskSpec) -> Any:
        if self.plan[spec.step]["is_join"] and len(spec.inputs) >= pages.WORTH_IT:
            self.writer.flush(sorted({step for step, _ in spec.inputs}))
        return self.inner.submit(spec)

    def result(self, ref: Any) -> TaskResult:
        result = self.inner.result(ref)
        if result.ok:
            self.writer.add(result.record)
        result.record = None
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Cloners:
    """A resume's origin first, then the cross-run cache; ``prepare`` batches resume's clones."""

    def __init__(self, resume: Any, cache: Any, writer: pages.PageWriter) -> None:
        self.resume = resume
        self.cache = cache
        self.writer = writer

    def prepare(self, spec: TaskSpec, ready: deque[TaskSpec]) -> bool:
        return self.resume is not None and self.resume.prepare(spec, ready)

    def __call__(self, spec: TaskSpec) -> TaskResult | None:
        found = self.resume(spec) if self.resume is not None else None
        if found is None:
            found = self.cache.lookup(spec)
        if found is not None:
            self.writer.add(found.record)
            found.record = None
        return found

    def close(self) -> None:
        if self.resume is not None:
            self.resume.close()
