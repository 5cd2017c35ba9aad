"""What the user sees while a run goes: per-step counts and each task's output, prefixed.

On a terminal a live table (rich) shows done/running/failed per step; otherwise plain lines are
printed when a step's counts change (at most every few seconds), so logs stay readable in CI.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from typing import Any, TextIO

_COUNTS = ("done", "running", "failed", "cloned", "cached", "waiting", "cancelled")


class Progress:
    def __init__(
        self,
        steps: list[str],
        out: TextIO | None = None,
        live: bool | None = None,
        quiet: bool = False,
    ) -> None:
        self.steps = steps
        self.out = out or sys.stdout
        self.quiet = quiet
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_COUNTS, 0))
        self.is_tty = self.out.isatty() if live is None else live
        self._live: Any = None
        self._last_plain = time.monotonic()
        self._printed: dict[str, tuple] = {}

    def __enter__(self) -> Progress:
        if self.is_tty and not self.quiet:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                self._table(), console=Console(file=self.out), refresh_per_second=8, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(*exc)
            self._live = None
        elif not self.quiet:
            self._plain(force=True)

    # -- events ----------------------------------------------------------------------------
    def submitted(self, step: str) -> None:
        self.counts[step]["running"] += 1
        self._refresh()

    def finished(
        self,
        step: str,
        ok: bool,
        cloned: bool = False,
        cached: bool = False,
        cancelled: bool = False,
    ) -> None:
        c = self.counts[step]
        if not cloned:
            c["running"] -= 1
        c["done" if ok else "cancelled" if cancelled else "failed"] += 1
        if cached:
            c["cached"] += 1
        elif cloned:
            c["cloned"] += 1
        self._refresh()

    def retrying(self, step: str, waiting: bool = False) -> None:
        """An attempt failed; ``waiting``: the next one waits (``@retry``'s delay) to start."""
        c = self.counts[step]
        c["running"] -= 1
        if waiting:
            c["waiting"] += 1
        self._refresh()

    def waited(self, step: str, cancelled: bool = False) -> None:
        """A waiting retry starts now (it is ``submitted`` next), or was ``cancelled``."""
        c = self.counts[step]
        c["waiting"] -= 1
        if cancelled:
            c["cancelled"] += 1
        self._refresh()

    def lines(self, label: str, stream: str, lines: list[str]) -> None:
        if self.quiet:
            return
        text = "\n".join(f"[{label}] {line}" for line in lines)
        self.message(text, err=stream == "stderr")

    def message(self, text: str, err: bool = False) -> None:
        if self.quiet and not err:
            return
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            stream = sys.stderr if err and self.out is sys.stdout else self.out
            print(text, file=stream, flush=True)

    # -- rendering -------------------------------------------------------------------------
    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._table())
        elif not self.quiet:
            self._plain()

    def _plain(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_plain < 2.0:
            return
        self._last_plain = now
        for step in self.steps:
            if step not in self.counts:
                continue
            c = self.counts[step]
            state = (c["done"], c["running"], c["failed"], c["waiting"], c["cancelled"])
            if self._printed.get(step) == state:
                continue
            self._printed[step] = state
            print(f"  {step}: {self._summary(c)}", file=self.out, flush=True)

    @staticmethod
    def _summary(c: dict[str, int]) -> str:
        total = c["done"] + c["running"] + c["failed"] + c["waiting"] + c["cancelled"]
        parts = [f"{c['done']}/{total} done"]
        if c["cloned"]:
            parts.append(f"{c['cloned']} cloned")
        if c["cached"]:
            parts.append(f"{c['cached']} cached")
        if c["running"]:
            parts.append(f"{c['running']} running")
        if c["waiting"]:
            parts.append(f"{c['waiting']} waiting to retry")
        if c["failed"]:
            parts.append(f"{c['failed']} failed")
        if c["cancelled"]:
            parts.append(f"{c['cancelled']} cancelled")
        return ", ".join(parts)

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        for col in ("step", "done", "running", "failed", "cached", "total"):
            table.add_column(col, justify="left" if col == "step" else "right")
        for step in self.steps:
            c = self.counts.get(step)
            if c is None:
                table.add_row(step, "", "", "", "", "", style="dim")
                continue
            total = c["done"] + c["running"] + c["failed"] + c["waiting"] + c["cancelled"]
            style = "red" if c["failed"] else ("green" if not c["running"] + c["waiting"] else "")
            running = str(c["running"]) + (
                f" ({c['waiting']} waiting to retry)" if c["waiting"] else ""
            )
            failed = str(c["failed"]) + (f" ({c['cancelled']} cancelled)" if c["cancelled"] else "")
            table.add_row(
                step,
                str(c["done"]),
                running,
                failed,
                str(c["cached"] + c["cloned"]) if c["cached"] + c["cloned"] else "",
                str(total),
                style=style,
            )
        return table
