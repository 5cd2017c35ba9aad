"""What a finished step leaves: its transition checked against the static graph, its
artifacts packed and stored, a foreach's splits, a switch's choice.

A mixin of ``TaskRun`` (``_task``): the blobs are held (``_put``) and written at once with the
task's other files just before its record (``_taskwrites``), unless they add up to more than
``_HOLD_BYTES``.
"""

from __future__ import annotations

from typing import Any

from rayflow.datastore import Packed, pack

from . import decorators
from ._errors import ForeachError, TransitionError
from ._result import Fanout, TaskResult
from ._taskstate import TaskState

_HOLD_BYTES = 64 * 1024 * 1024  # pending blobs held before they are written at once


class StepOutputs:
    """``TaskRun``'s outputs: see the module docstring."""

    def _finish(self, state: TaskState | None, flow: Any, caught: bool) -> TaskResult:
        assert state is not None
        node = self.node
        transition = state.transition
        if node["type"] == "end":
            if transition is not None:
                raise TransitionError("the end step must not call self.next()")
        elif transition is None:
            # a @parallel step's worker task (node > 0) may end without it, as in Metaflow
            if not caught and not (
                getattr(getattr(self.flow_cls, self.step, None), "_rf_parallel", False)
                and flow.foreach_stack()[-1][0] != 0
            ):
                raise TransitionError(f"step '{self.step}' finished without calling self.next()")
            transition = {
                "out": list(node["out"]),
                "foreach": node["foreach"],
                "condition": node["condition"],
                "switch": node["switch"],
            }
        elif (
            sorted(transition["out"]) != sorted(node["out"])
            or transition["foreach"] != node["foreach"]
            or transition["condition"] != node["condition"]
        ):
            raise TransitionError(
                f"step '{self.step}' called self.next({', '.join(transition['out'])}) but its source "
                f"says self.next({', '.join(node['out'])}); transitions must match the static graph"
            )
        decorators.after_step(node, self.decorator_classes, flow, caught)
        mapping = self._persist(state, flow)
        self._outputs = {k: self._sizes.get(k, 0) for k in mapping}
        meta: dict[str, Any] = {
            "artifacts": mapping,
            "sizes": {k: v for k, v in self._sizes.items() if mapping.get(k)},
        }
        out = TaskResult(ok=True, next=list(node["out"]), attempt=self.attempt)
        if transition and transition["foreach"] and not caught:
            keys, items_blob = self._expand_foreach(flow, transition["foreach"])
            out.foreach = Fanout(len(keys), keys)
            meta["foreach"] = {"var": transition["foreach"], "n": len(keys), "items": items_blob}
        elif transition and transition["condition"]:
            out.next = [self._choose(flow, transition)]
            meta["switch"] = out.next[0]
        meta["next"] = out.next
        self._record_fields = meta
        return out

    def _persist(self, state: TaskState, flow: Any) -> dict[str, str]:
        mapping = dict(state.mapping)
        # Flow constants are artifacts of start (of any shape, branching too) and of every join,
        # where the inputs' artifacts are not carried over by themselves (as in Metaflow).
        if self.step == "start" or self.node.get("is_join"):
            for name, packed in type(flow)._rf_flow_constants():
                if self.step == "start" or name not in mapping:
                    mapping[name] = self._put(packed)
                    self._sizes[name] = packed.size
        for name, value in list(flow.__dict__.items()):
            if name == "_rf" or name.startswith("__"):
                continue
            packed = pack(f"{name}' of step '{self.step}", value)
            key = packed.key
            if state.loaded.get(name) != key:
                self._put(packed)
            mapping[name] = key
            self._sizes[name] = packed.size
        return mapping

    def _expand_foreach(self, flow: Any, var: str) -> tuple[list[str], str]:
        try:
            value = getattr(flow, var)
        except AttributeError:
            raise ForeachError(
                f"step '{self.step}': foreach artifact '{var}' does not exist"
            ) from None
        if not hasattr(value, "__iter__"):
            raise ForeachError(
                f"step '{self.step}': foreach artifact '{var}' is not iterable "
                f"(got {type(value).__name__})"
            )
        items = list(value)
        limit = self.ctx.get("max_num_splits")
        if limit and len(items) > limit:
            raise ForeachError(
                f"step '{self.step}': foreach over '{var}' produced {len(items)} splits, "
                f"more than --max-num-splits {limit}"
            )
        if not items:
            raise ForeachError(f"step '{self.step}': foreach over '{var}' produced zero splits")
        keys = [
            self._put(pack(f"{var}[{i}]' of step '{self.step}", item))
            for i, item in enumerate(items)
        ]
        return keys, self._put(pack(var, keys))

    def _put(self, packed: Packed) -> str:
        """Remember a blob to store with the task's other files (``_write_records``), all at
        once; large ones are stored as soon as they add up, so they are not all held in memory."""
        self._pending.setdefault(packed.key, packed)
        if sum(p.size for p in self._pending.values()) >= _HOLD_BYTES:
            self.blobs.put_many(list(self._pending.values()))
            self._pending.clear()
        return packed.key

    def _choose(self, flow: Any, transition: dict) -> str:
        var = transition["condition"]
        try:
            value = getattr(flow, var)
        except AttributeError:
            raise TransitionError(
                f"step '{self.step}': condition artifact '{var}' does not exist"
            ) from None
        target = transition["switch"].get(str(value))
        if target is None:
            cases = ", ".join(repr(k) for k in transition["switch"])
            raise TransitionError(
                f"step '{self.step}': condition '{var}' is {value!r}, which matches no case ({cases})"
            )
        return target
