"""Cross-run caching: skip a task when an earlier successful task had the same cache key.

The key covers what can change a task's outputs: the step's source code and the flow's whole
source (the flow file and the modules it imports from its folder, ``_sources``), the
flow's constants, its decorators, the parameters it reads (all of them when ``self`` escapes the
step's plain attribute reads, ``rayflow._reads``), the content keys of every input artifact
(artifacts are content-addressed, so this is cheap) and the foreach positions of the task and
its inputs; or, instead of all that, a user-defined ``@cache(key=...)``. A hit clones
the earlier task's record by reference, with resume's cloning function (``_clone``). The index lives in the datastore
(``<Flow>/cache/<step>/<key>.json``), one whole file per key, so concurrent runs cannot corrupt
it; an entry whose task or blobs are gone is a miss.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from typing import Any

from rayflow.datastore import BlobStore, Storage, TaskRecord, records, taskrecords

from . import decorators
from ._clone import clone_task
from ._identity import TaskSpec
from ._result import TaskResult
from ._taskstate import TaskState
from .decorators import CacheDecorator


class TaskCache:
    def __init__(
        self,
        storage: Storage,
        flow: str,
        run_id: str,
        plan: dict[str, Any],
        param_keys: dict[str, str],
        mode: str,
        flow_cls: type | None = None,
    ) -> None:
        self.storage = storage
        self.flow = flow
        self.run_id = run_id
        self.plan = plan
        self.param_keys = param_keys
        self.mode = mode
        self.flow_cls = flow_cls
        self.blobs = BlobStore(storage, flow)
        self.keys: dict[tuple[str, str], str] = {}
        self._metas: OrderedDict[tuple[str, str], TaskRecord] = OrderedDict()
        self._constants: str | None = None
        # Taken now, as the run starts: the workers import the flow's local modules as they are
        # now (``_codefiles.forget_local_modules``); the flow file's own digest is its loaded one.
        self.source = ""
        if flow_cls is not None and mode != "off" and any(self.enabled(s) for s in plan):
            from ._sources import sources_key

            self.source = sources_key(flow_cls) or self._pickled_key()

    def enabled(self, step: str) -> bool:
        if self.mode == "off":
            return False
        return self.mode == "all" or decorators.cache_policy(self.plan[step]) is not None

    # -- keys ------------------------------------------------------------------------------
    def _input_meta(self, spec: TaskSpec, i: int) -> TaskRecord:
        step, task_id = key = tuple(spec.inputs[i])
        meta = self._metas.get(key)
        if meta is None:
            attempt = spec.input_attempts[i] if i < len(spec.input_attempts) else None
            meta = (
                taskrecords.read_finished(
                    self.storage, self.flow, self.run_id, step, task_id, attempt
                )
                if attempt is not None
                else None
            )
            meta = meta or taskrecords.read_task(
                self.storage, self.flow, self.run_id, step, task_id
            )
            self._metas[key] = meta
            while len(self._metas) > 64:
                self._metas.popitem(last=False)
        return meta

    def key_for(self, spec: TaskSpec) -> str:
        node = self.plan[spec.step]
        refs = node.get("param_refs", "*")
        names = (
            sorted(self.param_keys) if refs == "*" else [r for r in refs if r in self.param_keys]
        )
        options = decorators.cache_key_options(node)
        # Parameters travel in every task's artifact mapping; they are keyed above, by what the
        # step reads, so they are left out of the inputs here.
        # A join also sees each input's foreach position (``i.input``, ``i.index``).
        inputs = [
            [
                sorted((k, v) for k, v in meta.artifacts.items() if k not in self.param_keys),
                [list(f) for f in meta.frames],
            ]
            for meta in (self._input_meta(spec, i) for i in range(len(spec.inputs)))
        ]
        parts: dict[str, Any] = {
            "flow": self.flow,
            "step": spec.step,
            "code": node.get("code_hash", ""),
            "source": self.source,
            "decorators": options,
            "params": {n: self.param_keys[n] for n in names},
            "inputs": inputs,
            "frames": [[f[0], f[1], f[2], f[3]] for f in spec.frames],
            "constants": self._constants_key(),
        }
        user_key = self._user_key(spec)
        if user_key is not None:
            parts = {"flow": self.flow, "step": spec.step, "user": user_key}
        text = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def _constants_key(self) -> str:
        """The flow class's plain values (``LR = 0.1``): any step may read them, so changing one
        makes every cached step of the flow run again."""
        if self._constants is None:
            pairs = [] if self.flow_cls is None else self.flow_cls._rf_flow_constants()
            self._constants = json.dumps([(name, packed.key) for name, packed in pairs])
        return self._constants

    def _pickled_key(self) -> str:
        """A flow with no source file (a notebook cell) is keyed by the class as shipped to the
        workers, which holds its module-level helpers by value. Not stable across processes
        (a miss there); stable within one once the class's memos are set, as they are here."""
        import cloudpickle

        self.flow_cls._rf_flow_constants(packed=False)  # sets the class's memo before pickling
        return "pickled:" + hashlib.sha256(cloudpickle.dumps(self.flow_cls)).hexdigest()

    def _user_key(self, spec: TaskSpec) -> str | None:
        policy = decorators.cache_policy(self.plan[spec.step]) or {}
        key_fn = CacheDecorator.key_function(getattr(self.flow_cls, spec.step, None))
        if not policy.get("user_key") or self.flow_cls is None or key_fn is None:
            return None
        mapping = dict(self.param_keys)
        if spec.inputs and not self.plan[spec.step]["is_join"]:
            mapping = dict(self._input_meta(spec, 0).artifacts)
        state = TaskState(
            self.blobs,
            f"{self.flow}/{self.run_id}/{spec.step}/{spec.task_id}",
            spec.step,
            mapping,
            self.param_keys,
            list(spec.frames),
            self.plan[spec.step]["is_join"],
        )
        flow = self.flow_cls.__new__(self.flow_cls)
        flow.__dict__["_rf"] = state
        return str(key_fn(flow))

    # -- lookups ---------------------------------------------------------------------------
    def lookup(self, spec: TaskSpec) -> TaskResult | None:
        if not self.enabled(spec.step):
            return None
        key = self.key_for(spec)
        self.keys[spec.key] = key
        entry = records.read_cache_entry(self.storage, self.flow, spec.step, key)
        if entry is None:
            return None
        expire = (decorators.cache_policy(self.plan[spec.step]) or {}).get("expire_after")
        if expire is not None and time.time() - float(entry.get("created_at", 0)) > float(expire):
            return None
        return clone_task(
            self.storage,
            self.flow,
            entry["run_id"],
            entry["task_id"],
            spec,
            self.run_id,
            check_blobs=True,
            cache_key=key,
        )

    def record(self, spec: TaskSpec) -> None:
        """After a task ran and succeeded: make it findable by later runs."""
        key = self.keys.pop(spec.key, None)
        if key is None:
            return
        records.write_cache_entry(
            self.storage,
            self.flow,
            spec.step,
            key,
            {
                "run_id": self.run_id,
                "task_id": spec.task_id,
                "created_at": time.time(),
            },
        )
