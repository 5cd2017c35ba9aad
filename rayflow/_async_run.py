"""``Runner.async_run``: a run in a background thread of this process, to start and then poll.

The graph is linted and the parameters resolved in the caller's thread, so a bad flow or value
raises at once. The run itself is ``launch`` of ``Runner.request`` in a thread: it reuses Ray when this process has
already initialised it (a test session, a notebook that called ``ray.init``), else it starts Ray
(or joins ``cluster``) from the thread; Ray is owned once per process (scheduler._connect), so
several runs at once share the Ray the first one started, and the last one to end stops it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._runner import Runner, RunOutcome

if TYPE_CHECKING:
    from rayflow.scheduler import RunRequest


class AsyncRun:
    """A run started by ``Runner.async_run``.

    ``run_id`` blocks until the run is recorded (moments after the start); ``status`` is
    ``running`` until the run ends, then the run's own status (``successful``, ``failed``,
    ``interrupted``, ``cancelled``); ``cancel()`` stops it; ``wait()`` blocks until the end and re-raises an error that stopped the run
    from starting (e.g. an unusable datastore); ``run`` is the client ``Run``.
    """

    def __init__(self, runner: Runner, request: RunRequest) -> None:
        self._runner = runner
        self._started = threading.Event()
        self._run_id: str | None = None
        self._outcome: RunOutcome | None = None
        self._error: BaseException | None = None
        self._cancel = threading.Event()
        request.on_started = self._on_started
        request.should_stop = self._stop_check(request.should_stop)
        self._thread = threading.Thread(
            target=self._body, args=(request,), name="rayflow-async-run", daemon=True
        )

    @classmethod
    def start(cls, runner: Runner, params: dict[str, Any]) -> AsyncRun:
        handle = cls(runner, runner.request(params))
        handle._thread.start()
        return handle

    def _stop_check(self, previous: Callable[[], Any] | None) -> Callable[[], Any]:
        """The driver loop asks this between Ray calls (the request's own check still counts)."""

        def should_stop() -> Any:
            if self._cancel.is_set():
                return "cancelled"
            return previous() if previous is not None else False

        return should_stop

    def cancel(self) -> AsyncRun:
        """Stop the run: nothing more is scheduled and its running tasks are cancelled; it ends
        as ``cancelled`` (finished tasks stay checkpointed, so a resume goes on from them).
        Returns at once; ``wait()`` for the end. A run that already ended keeps its status."""
        self._cancel.set()
        return self

    def _on_started(self, run_id: str) -> None:
        self._run_id = run_id
        self._started.set()

    def _body(self, request: RunRequest) -> None:
        from rayflow.scheduler import launch

        try:
            self._outcome = RunOutcome(launch(request), self._runner.datastore)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by wait()
            self._error = exc
        finally:
            self._started.set()

    @property
    def run_id(self) -> str:
        self._started.wait()
        if self._run_id is None:
            assert self._error is not None
            raise self._error
        return self._run_id

    @property
    def pathspec(self) -> str:
        return f"{self._runner.flow_cls.__name__}/{self.run_id}"

    @property
    def status(self) -> str:
        if self._thread.is_alive():
            return "running"
        if self._outcome is None:
            return "failed"
        return self._outcome.status

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    @property
    def successful(self) -> bool:
        return self.status == "successful"

    def wait(self, timeout: float | None = None) -> AsyncRun:
        """Block until the run ends (``TimeoutError`` after ``timeout`` seconds); return self."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"run {self.pathspec} still running after {timeout}s")
        if self._error is not None:
            raise self._error
        return self

    @property
    def outcome(self) -> RunOutcome | None:
        """The ``RunOutcome`` once the run has ended, else ``None``."""
        return self._outcome

    @property
    def run(self) -> Any:
        """The client ``Run`` (readable while the run is still going)."""
        from . import _namespace
        from ._client import Run

        run_id = self.run_id
        if _namespace._settings["datastore"] != self._runner.datastore:
            _namespace.metadata(self._runner.datastore)
        return Run(f"{self._runner.flow_cls.__name__}/{run_id}")

    def __repr__(self) -> str:
        return f"<AsyncRun {self._runner.flow_cls.__name__}/{self._run_id or '?'} {self.status}>"


__all__ = ["AsyncRun"]
