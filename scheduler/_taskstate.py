"""The state a flow instance is bound to while one task runs inside a Ray worker.

Artifacts are loaded from the datastore the first time a step reads them and remembered with the
key they came from, so an artifact that was only read is not written again; every artifact is
passed down the graph by its content key, never by copying bytes.
"""

from __future__ import annotations

from typing import Any

from rayflow.datastore import BlobStore

from ._errors import (
    MergeArtifactsError,
    MissingInMergeArtifactsException,
    TransitionError,
    UnhandledInMergeArtifactsException,
)
from ._identity import foreach_frames


class TaskState:
    def __init__(
        self,
        blobs: BlobStore,
        pathspec: str,
        step: str,
        mapping: dict[str, str],
        params: dict[str, str],
        frames: list,
        is_join: bool,
    ) -> None:
        self.blobs = blobs
        self.pathspec = pathspec
        self.step = step
        self.mapping = mapping  # artifact name -> blob key visible to this task
        self.params = params  # parameter attribute -> blob key
        self.frames = foreach_frames(frames)
        self.is_join = is_join
        self.loaded: dict[str, str] = {}
        self._param_values: dict[str, Any] = {}
        self._input: tuple[bool, Any] = (False, None)
        self.transition: dict[str, Any] | None = None

    # -- reading ---------------------------------------------------------------------------
    def load(self, name: str) -> Any:
        key = self.mapping.get(name)
        if key is None:
            hint = (
                (
                    " (a join sees only what it merges: use self.merge_artifacts(inputs) or "
                    "read it from inputs)"
                )
                if self.is_join
                else ""
            )
            raise AttributeError(f"step '{self.step}' has no artifact '{name}'{hint}")
        value = self.blobs.get(key, self.pathspec)
        self.loaded[name] = key
        return value

    def param(self, attr: str) -> Any:
        if attr not in self._param_values:
            key = self.params.get(attr)
            self._param_values[attr] = None if key is None else self.blobs.get(key, self.pathspec)
        return self._param_values[attr]

    def input(self) -> Any:
        if not self.frames:
            return None
        if not self._input[0]:
            self._input = (True, self.blobs.get(self.frames[-1][3], self.pathspec))
        return self._input[1]

    def index(self) -> int | None:
        return self.frames[-1][1] if self.frames else None

    def foreach_stack(self) -> list[tuple[int, int, Any]]:
        return [(f[1], f[2], self.blobs.get(f[3], self.pathspec)) for f in self.frames]

    # -- transitions -----------------------------------------------------------------------
    def record_next(
        self, names: list[str], foreach: str | None, condition: str | None, switch: dict[str, str]
    ) -> None:
        if self.transition is not None:
            raise TransitionError(f"step '{self.step}' called self.next() twice")
        self.transition = {
            "out": names,
            "foreach": foreach,
            "condition": condition,
            "switch": switch,
        }

    # -- joins -----------------------------------------------------------------------------
    def merge(self, flow: Any, inputs: Any, include: list[str], exclude: list[str]) -> None:
        if not self.is_join:
            raise MergeArtifactsError(
                f"merge_artifacts can only be called in a join step, not in '{self.step}'"
            )
        if include and exclude:
            raise MergeArtifactsError("merge_artifacts takes include= or exclude=, not both")
        chosen: dict[str, str] = {}
        conflicts: list[str] = []
        for view in inputs:
            for name, key in view._rf_mapping.items():
                if name in self.params or name in exclude or name in flow.__dict__:
                    continue
                if include and name not in include:
                    continue
                previous = chosen.setdefault(name, key)
                if previous != key and name not in conflicts:
                    conflicts.append(name)
        if conflicts:
            raise UnhandledInMergeArtifactsException(
                f"step '{self.step}' cannot merge artifacts with conflicting values: "
                f"{', '.join(sorted(conflicts))}; set them explicitly (self.<name> = ...) before "
                "calling merge_artifacts, or exclude them",
                sorted(conflicts),
            )
        missing = [n for n in include if n not in chosen and n not in flow.__dict__]
        if missing:
            raise MissingInMergeArtifactsException(
                f"step '{self.step}' cannot merge {', '.join(missing)}: not present in any input",
                missing,
            )
        for name, key in chosen.items():
            self.mapping[name] = key
            flow.__dict__.pop(name, None)


class InputView:
    """One input of a join: its artifacts are read lazily, by name, like ``self.x``."""

    def __init__(
        self, blobs: BlobStore, pathspec: str, step: str, mapping: dict[str, str], frames: list
    ) -> None:
        self._rf_blobs = blobs
        self._rf_pathspec = pathspec
        self._rf_step = step
        self._rf_mapping = mapping
        self._rf_frames = foreach_frames(frames)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name.startswith("_rf_"):
            raise AttributeError(name)
        key = self._rf_mapping.get(name)
        if key is None:
            raise AttributeError(f"input {self._rf_pathspec} has no artifact '{name}'")
        value = self._rf_blobs.get(key, self._rf_pathspec)
        self.__dict__[name] = value
        return value

    @property
    def input(self) -> Any:
        return self._rf_blobs.get(self._rf_frames[-1][3]) if self._rf_frames else None

    @property
    def index(self) -> int | None:
        return self._rf_frames[-1][1] if self._rf_frames else None

    def foreach_stack(self) -> list[tuple[int, int, Any]]:
        return [(f[1], f[2], self._rf_blobs.get(f[3])) for f in self._rf_frames]

    def __repr__(self) -> str:
        return f"<input {self._rf_pathspec}>"


class Inputs:
    """A join's ``inputs``: iterable, indexable, and ``inputs.<step>`` for static splits."""

    def __init__(self, views: list[InputView]) -> None:
        self._views = views

    def __iter__(self):
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)

    def __getitem__(self, i: int) -> InputView:
        return self._views[i]

    def __getattr__(self, name: str) -> InputView:
        if name.startswith("_"):
            raise AttributeError(name)
        for view in self._views:
            if view._rf_step == name:
                return view
        steps = ", ".join(v._rf_step for v in self._views)
        raise AttributeError(f"inputs has no step '{name}' (inputs come from: {steps})")
