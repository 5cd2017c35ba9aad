"""The ready-set: given a finished task, which tasks can run now.

Foreach fan-outs expand when their parent finishes (one task per item); a join becomes ready when
every input it waits for is done: all branches of a static split, or all splits of a foreach.
The planner keeps only ids and counters, never artifacts.
"""

from __future__ import annotations

from typing import Any

from ._identity import LOOP, TaskSpec
from ._result import TaskResult


class Planner:
    def __init__(self, plan: dict[str, dict[str, Any]]) -> None:
        self.plan = plan
        self._joins: dict[tuple, dict[int, tuple[tuple[str, str], int]]] = {}

    def initial(self) -> list[TaskSpec]:
        return [TaskSpec("start")]

    def on_done(self, spec: TaskSpec, result: TaskResult) -> list[TaskSpec]:
        node = self.plan[spec.step]
        if node["type"] == "end":
            return []
        source = (spec.step, spec.task_id)
        done_in = (result.attempt,)  # the attempt whose record the next tasks read
        foreach = result.foreach
        if foreach:
            target = node["out"][0]
            n = foreach.n
            return [
                TaskSpec(
                    target,
                    spec.frames + ((spec.step, i, n, key),),
                    (source,),
                    input_attempts=done_in,
                )
                for i, key in enumerate(foreach.items)
            ]
        ready = []
        base = tuple(f for f in spec.frames if f[0] != LOOP)
        for target in result.next:
            tnode = self.plan[target]
            if target == spec.step:  # a recursive switch: the next iteration is a new task
                last = spec.frames[-1] if spec.frames and spec.frames[-1][0] == LOOP else None
                iteration = (last[1] if last else 0) + 1
                ready.append(
                    TaskSpec(
                        target,
                        base + ((LOOP, iteration, 0, None),),
                        (source,),
                        input_attempts=done_in,
                    )
                )
                continue
            if not tnode["is_join"]:
                ready.append(TaskSpec(target, base, (source,), input_attempts=done_in))
                continue
            split = self.plan[tnode["closes"]]
            if split["split_kind"] == "foreach":
                frames = base[:-1]
                slot, expected = base[-1][1], base[-1][2]
            else:
                frames = base
                slot, expected = tnode["parents"].index(spec.step), len(split["out"])
            key = (target, frames)
            arrived = self._joins.setdefault(key, {})
            arrived[slot] = (source, result.attempt)
            if len(arrived) == expected:
                del self._joins[key]
                order = sorted(arrived)
                ready.append(
                    TaskSpec(
                        target,
                        frames,
                        tuple(arrived[i][0] for i in order),
                        input_attempts=tuple(arrived[i][1] for i in order),
                    )
                )
        return ready
