"""``FlowSpec``: the base class of every flow.

Inside a running step the instance is bound to a task state object (``self._rf``) supplied by the
scheduler; artifacts of earlier steps are loaded from the datastore the first time they are read,
and everything assigned to ``self`` becomes an artifact of the task.
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import Any, NamedTuple


class ForeachFrame(NamedTuple):
    """One enclosing foreach of a task, with Metaflow's field names."""

    step: str
    var: str | None
    num_splits: int
    index: int
    value: Any


class FlowSpec:
    """Subclass it, write ``@step`` methods from ``start`` to ``end``, call ``MyFlow()`` in main.

    Instantiating the class outside a running flow starts the command line (``run``, ``check``,
    ``show``, ``resume``), as Metaflow does.
    """

    _rf: Any = None

    def __init__(self, use_cli: bool = True) -> None:
        if use_cli:
            from .cli._flow_main import flow_main

            flow_main(type(self))

    # --- artifacts --------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        state = self.__dict__.get("_rf")
        if state is None:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        value = state.load(name)
        self.__dict__[name] = value
        return value

    def _rf_enter(self, state: Any, current_values: dict[str, Any], reporter: Any = None) -> None:
        """Bind the instance to a task; called by the scheduler's task body, never by users."""
        from ._current import current

        self.__dict__["_rf"] = state
        current._set(current_values, reporter)
        if current_values.get("step_name"):
            from ._parallel import parallel_info

            info = parallel_info(self, current_values["step_name"])
            if info is not None:
                current._values["parallel"] = info
            from .cards._decorator import step_card_specs

            specs = step_card_specs(type(self), current_values["step_name"])
            if specs:  # current.card knows the step's cards (current.card.get(type=...))
                from .cards._collector import CardCollector

                current._values["_card"] = CardCollector(specs)

    def _rf_exit(self) -> None:
        from ._current import current

        collector = current._values.get("_card")
        if collector is not None:  # kept for the step's cards, rendered after it (``@card``)
            from .cards._decorator import COLLECTOR_ATTR

            self.__dict__[COLLECTOR_ATTR] = collector
        current._clear()

    @classmethod
    def _rf_flow_constants(cls, packed: bool = True) -> Any:
        """The class's constants for the scheduler (which may not import this module), through
        the flow class it is given: ``(name, Packed)`` pairs, or ``{name: value}`` when not
        ``packed``. See ``flow_constants``."""
        return packed_constants(cls) if packed else flow_constants(cls)

    # --- transitions ------------------------------------------------------------------------
    def next(
        self,
        *steps: Any,
        foreach: str | None = None,
        condition: str | None = None,
        num_parallel: int | None = None,
    ) -> None:
        """Name the step(s) that follow this one; must be the step's last statement."""
        names: list[str] = []
        switch: dict[str, str] = {}
        if num_parallel is not None:
            from ._parallel import NODES_VAR

            if not isinstance(num_parallel, int) or num_parallel < 1:
                raise ValueError(f"num_parallel must be a positive int, got {num_parallel!r}")
            object.__setattr__(self, NODES_VAR, list(range(num_parallel)))
            foreach = NODES_VAR
        for target in steps:
            if isinstance(target, dict):
                for value, func in target.items():
                    switch[str(value)] = _step_name(func)
                names.extend(switch.values())
            else:
                names.append(_step_name(target))
        self._state("next").record_next(names, foreach=foreach, condition=condition, switch=switch)

    # --- foreach context --------------------------------------------------------------------
    @property
    def input(self) -> Any:
        """The item of the innermost foreach this task belongs to (``None`` outside foreach)."""
        return self._state("input").input()

    @property
    def index(self) -> int | None:
        """The index of this task in the innermost foreach (``None`` outside foreach)."""
        return self._state("index").index()

    def foreach_stack(self) -> list[tuple[int, int, Any]]:
        """``(index, num_splits, value)`` for every enclosing foreach, outermost first."""
        return self._state("foreach_stack").foreach_stack()

    @property
    def _foreach_stack(self) -> list[ForeachFrame]:
        """Metaflow's ``self._foreach_stack``: one ``ForeachFrame(step, var, num_splits, index,
        value)`` per enclosing foreach, outermost first (``var`` names the split's list)."""
        from ._graph import build_graph

        state = self._state("_foreach_stack")
        graph = build_graph(type(self))
        return [
            ForeachFrame(frame[0], graph[frame[0]].foreach, num, index, value)
            for frame, (index, num, value) in zip(state.frames, state.foreach_stack())
        ]

    # --- joins ------------------------------------------------------------------------------
    def merge_artifacts(
        self, inputs: Any, include: list[str] | None = None, exclude: list[str] | None = None
    ) -> None:
        """Take every artifact the inputs agree on; conflicting values are an error.

        Artifacts already set on ``self`` in this join are left alone, so set the conflicting
        ones explicitly before calling this.
        """
        self._state("merge_artifacts").merge(self, inputs, include or [], exclude or [])

    def __setattr__(self, name: str, value: Any) -> None:
        # As in Metaflow, values set on the flow class (``LR = 0.1``) are constants of the flow:
        # a step that assigns one would see its own value while later steps see the class's.
        if name in flow_constants(type(self)):
            raise AttributeError(
                f"'{name}' is a flow-level attribute of {type(self).__name__}: flow "
                "attributes and parameters are not modifiable in a step"
            )
        object.__setattr__(self, name, value)

    # --- the flow's shape (Metaflow's ``for step in flow`` and ``flow._graph``) ---------------
    def __iter__(self) -> Any:
        """The step functions, in the graph's order (each has ``.name``), as Metaflow's flow
        object iterates; checks written for Metaflow walk a flow this way."""
        cls = type(self)
        return iter(getattr(cls, node.name) for node in self._graph)

    @property
    def _graph(self) -> Any:
        """The flow's parsed graph (nodes with ``type``, ``in_funcs``, ``out_funcs``); parsed on
        each use, not kept on the class (the class is shipped to workers by value)."""
        from ._graph import build_graph

        return build_graph(type(self))

    # --- misc -------------------------------------------------------------------------------
    @property
    def _current_step(self) -> str | None:
        """The running step's name (Metaflow's ``self._current_step``)."""
        from ._current import current

        return current.step_name

    @property
    def name(self) -> str:
        """The flow's name, unless a step set ``self.name`` (an ordinary artifact then)."""
        return self.__dict__.get("name", type(self).__name__)

    @name.setter
    def name(self, value: Any) -> None:
        self.__dict__["name"] = value

    @property
    def script_name(self) -> str:
        return os.path.basename(sys.argv[0])

    def _state(self, what: str) -> Any:
        state = self.__dict__.get("_rf")
        if state is None:
            raise RuntimeError(f"{what} is only available inside a running step")
        return state

    def __repr__(self) -> str:
        state = self.__dict__.get("_rf")
        where = f" {state.pathspec}" if state is not None else ""
        return f"<flow {type(self).__name__}{where}>"


def flow_constants(flow_cls: type) -> dict[str, Any]:
    """Plain values set on the flow class or its bases (``LR = 0.1``), by name: not methods,
    parameters, properties, classes, modules or private names. Worked out once per class (kept on
    the class itself, so it goes away with it)."""
    found = flow_cls.__dict__.get("_rf_constants")
    if found is None:
        found = {}
        for klass in reversed(flow_cls.__mro__):
            if klass is object or issubclass(FlowSpec, klass):
                continue
            for name, value in vars(klass).items():
                if _is_constant(name, value):
                    found[name] = value
                else:  # a subclass turned the name into something else
                    found.pop(name, None)
        type.__setattr__(flow_cls, "_rf_constants", found)
    return found


def packed_constants(flow_cls: type) -> list[tuple[str, Any]]:
    """``(name, Packed)`` of each flow constant that can be pickled: Metaflow stores them as
    artifacts of ``start``; one that cannot be pickled stays a class attribute only."""
    from rayflow.datastore import ArtifactPickleError, pack

    out = []
    for name, value in flow_constants(flow_cls).items():
        try:
            out.append((name, pack(name, value)))
        except ArtifactPickleError:
            continue
    return out


def _is_constant(name: str, value: Any) -> bool:
    return not (
        name.startswith("_")
        or callable(value)
        or isinstance(value, (property, staticmethod, classmethod, type))
        or hasattr(value, "__set__")
        or inspect.ismodule(value)
    )


def _step_name(target: Any) -> str:
    name = getattr(target, "__name__", None)
    if name is None or not getattr(target, "is_step", False):
        raise TypeError(f"self.next() expects steps like self.a, got {target!r}")
    return name
