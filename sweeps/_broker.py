"""Pruning reports: a step's ``current.report(value, step)`` reaches the sweep driver.

Workers never touch the study's storage. A report goes to this actor, which waits (briefly) for
the driver to ask the study's pruner and answers whether the trial should stop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ray


@ray.remote(num_cpus=0, max_restarts=0)
class PruneBroker:
    def __init__(self) -> None:
        self.pending: list[tuple[int, float, int]] = []
        self.pruned: set[int] = set()
        self.decided: dict[int, int] = {}
        self.seq = 0

    async def report(self, trial: int, value: float, step: int, wait: float = 5.0) -> bool:
        """Queue the report; return True as soon as the driver says the trial is pruned."""
        if trial in self.pruned:
            return True
        self.seq += 1
        ticket = self.seq
        self.pending.append((trial, value, step, ticket))
        deadline = asyncio.get_event_loop().time() + wait
        while self.decided.get(trial, 0) < ticket and asyncio.get_event_loop().time() < deadline:
            await asyncio.sleep(0.01)
        return trial in self.pruned

    async def take(self) -> list[tuple[int, float, int, int]]:
        out, self.pending = self.pending, []
        return out

    async def decide(self, decisions: dict[int, tuple[bool, int]]) -> None:
        for trial, (pruned, ticket) in decisions.items():
            if pruned:
                self.pruned.add(trial)
            self.decided[trial] = max(self.decided.get(trial, 0), ticket)


def make_reporter(broker: Any, trial_number: int) -> Any:
    """The callable behind ``current.report`` inside a task of a sweep trial."""

    def report(value: float, step: int) -> None:
        pruned = ray.get(broker.report.remote(trial_number, value, step))
        if pruned:
            import optuna

            raise optuna.TrialPruned(f"trial {trial_number} pruned at step {step}")

    return report
