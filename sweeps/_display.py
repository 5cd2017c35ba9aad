"""What a sweep shows: live counts and the best trial so far, then a table of the best trials."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO


class SweepProgress:
    def __init__(self, direction: str, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.direction = direction
        self.counts = {"running": 0, "complete": 0, "pruned": 0, "failed": 0}
        self.best: tuple[float, int, dict] | None = None
        self.is_tty = self.out.isatty()
        self._live: Any = None
        self._last = time.monotonic()

    def __enter__(self) -> SweepProgress:
        if self.is_tty:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render(), console=Console(file=self.out), refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(*exc)
        else:
            print(self._line(), file=self.out, flush=True)

    def event(self, kind: str, info: dict[str, Any]) -> None:
        if kind == "started":
            self.counts["running"] += 1
        elif kind in ("complete", "pruned", "failed"):
            self.counts["running"] -= 1
            self.counts[kind] += 1
            if kind == "complete":
                value = info["value"]
                better = self.best is None or (
                    value < self.best[0] if self.direction == "minimize" else value > self.best[0]
                )
                if better:
                    self.best = (value, info["trial"], info["params"])
            if kind == "failed":
                self._say(f"trial {info['trial']} failed: {info['reason'][:300]}")
        elif kind == "recovered":
            self._say(
                f"trial(s) {_numbers(info['trials'])}: their driver stopped (no heartbeat for "
                f"{info['grace']} s); marked failed and queued again"
            )
        elif kind == "heartbeat":
            self._say(
                f"note: this study's drivers record heartbeats every {info['interval']} s with a "
                f"{info['grace']} s grace period (set by its first driver); using those"
            )
        elif kind == "waiting":
            self._say(
                f"waiting for trial(s) {_numbers(info['trials'])} of other drivers (a stopped "
                f"driver's trials are retried once they miss heartbeats for {info['grace']} s)"
            )
        elif kind == "lost":
            run = f"; its run {info['run']} is kept" if info.get("run") else ""
            self._say(
                f"trial {info['trial']} was failed by another driver, which saw no heartbeat from "
                f"this one for {info['grace']} s{run}"
            )
        elif kind == "abandoned":
            self.counts["running"] -= len(info["trials"])
            self.counts["failed"] += len(info["trials"])
            if info["trials"]:
                self._say(
                    f"trial(s) {_numbers(info['trials'])} marked failed in the study: {info['reason']}"
                )
        if self._live is not None:
            self._live.update(self._render())
        elif time.monotonic() - self._last > 2.0:
            self._last = time.monotonic()
            print(self._line(), file=self.out, flush=True)

    def _say(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.out, flush=True)

    def _line(self) -> str:
        c = self.counts
        text = (
            f"trials: {c['complete']} complete, {c['running']} running, {c['pruned']} pruned, "
            f"{c['failed']} failed"
        )
        if self.best:
            text += f" | best {self.best[0]:.6g} (trial {self.best[1]}: {_params(self.best[2])})"
        return text

    def _render(self) -> Any:
        from rich.text import Text

        return Text(self._line())


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers[:20]) + (
        f" and {len(numbers) - 20} more" if len(numbers) > 20 else ""
    )


def _params(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def run_status_reader(datastore: str) -> Callable[[str], str | None]:
    """``Flow/run_id`` -> the run's status as every reader shows it (``crashed`` when the driver
    that ran it died), or None when it cannot be read."""
    from rayflow.datastore import open_storage, records

    storage = open_storage(datastore)

    def status(pathspec: str) -> str | None:
        try:
            flow, run_id = pathspec.split("/")
            record = records.read_run(storage, flow, run_id)
            return str(records.with_effective_status(storage, flow, run_id, record).get("status"))
        except Exception:  # noqa: BLE001 - a trial's run that cannot be read keeps its trial state
            return None

    return status


def trials_table(
    study: Any,
    limit: int | None = None,
    best_first: bool = True,
    run_status: Callable[[str], str | None] | None = None,
) -> Any:
    """The study's trials; with ``run_status``, a RUNNING trial whose run crashed says so."""
    from optuna.trial import TrialState
    from rich.table import Table

    trials = study.get_trials(deepcopy=False)
    if best_first:
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        reverse = study.direction.name == "MAXIMIZE"
        complete.sort(key=lambda t: t.value, reverse=reverse)
        rest = [t for t in trials if t.state != TrialState.COMPLETE]
        trials = complete + rest
    if limit:
        trials = trials[:limit]
    names = sorted({k for t in trials for k in t.params})
    table = Table(box=None, header_style="bold")
    for col in ["trial", "state", "value", *names, "run"]:
        table.add_column(col, justify="right" if col not in ("state", "run") else "left")
    for t in trials:
        value = "" if t.value is None else f"{t.value:.6g}"
        state = t.state.name.lower()
        pathspec = t.user_attrs.get("run_pathspec")
        if (
            t.state == TrialState.RUNNING
            and run_status
            and pathspec
            and run_status(pathspec) == "crashed"
        ):
            state = "running (its run crashed)"
        cells = [str(t.number), state, value]
        for n in names:
            v = t.params.get(n, "")
            cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
        cells.append(str(t.user_attrs.get("run_pathspec", "")))
        table.add_row(*cells)
    return table
