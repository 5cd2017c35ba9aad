"""The shape of a run's timing: percentiles, peak concurrency and the critical path over the
attempts ``rayflow._stats`` reads (only their times, keys and inputs are used)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._stats import Attempt


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    data = sorted(values)
    if not data:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(data)))
    return data[min(rank, len(data)) - 1]


def peak_concurrency(attempts: Iterable[Attempt]) -> int:
    events = []
    for a in attempts:
        if a.duration is not None:
            events += [(a.started_at, 1), (a.finished_at, -1)]
    peak = running = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        running += delta
        peak = max(peak, running)
    return peak


def critical_path(attempts: list[Attempt]) -> tuple[list[tuple[str, str]], float]:
    """The chain of tasks (start first) whose run times add up to the most, and that sum.

    A task's weight is the run time of all its attempts (retries run one after another); cloned
    tasks weigh nothing. Ties go to the input that finished last.
    """
    weight: dict[tuple[str, str], float] = {}
    inputs: dict[tuple[str, str], list[tuple[str, str]]] = {}
    finished: dict[tuple[str, str], float] = {}
    for a in attempts:
        weight[a.key] = weight.get(a.key, 0.0) + (a.duration or 0.0)
        if a.inputs or a.key not in inputs:
            inputs[a.key] = [i for i in a.inputs]
        finished[a.key] = max(finished.get(a.key, 0.0), a.finished_at or 0.0)
    for key in inputs:
        inputs[key] = [i for i in inputs[key] if i in weight]
    children: dict[tuple[str, str], list[tuple[str, str]]] = {k: [] for k in weight}
    missing = {k: len(v) for k, v in inputs.items()}
    for key, ins in inputs.items():
        for i in ins:
            children[i].append(key)
    todo = [k for k, n in missing.items() if n == 0]
    best: dict[tuple[str, str], float] = {}
    via: dict[tuple[str, str], tuple[str, str] | None] = {}
    while todo:
        key = todo.pop()
        ins = inputs[key]
        if ins:
            prev = max(ins, key=lambda i: (best[i], finished.get(i, 0.0)))
            best[key], via[key] = best[prev] + weight[key], prev
        else:
            best[key], via[key] = weight[key], None
        for child in children[key]:
            missing[child] -= 1
            if missing[child] == 0:
                todo.append(child)
    if not best:
        return [], 0.0
    tail: tuple[str, str] | None = max(best, key=lambda k: (best[k], finished.get(k, 0.0)))
    total = best[tail]
    path = []
    while tail is not None:
        path.append(tail)
        tail = via[tail]
    return path[::-1], total
