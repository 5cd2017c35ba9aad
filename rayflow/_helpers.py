"""Small helpers Metaflow flows import next to FlowSpec (``profile``, ``parallel_map``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any


@contextmanager
def profile(label: str, stats_dict: dict[str, float] | None = None) -> Iterator[None]:
    """Time a block: print ``label: N ms``, or add the milliseconds to ``stats_dict[label]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        ms = (time.perf_counter() - start) * 1000
        if stats_dict is None:
            print(f"PROFILE: {label}: {ms:.0f}ms")
        else:
            stats_dict[label] = stats_dict.get(label, 0.0) + ms


def parallel_map(
    func: Callable[[Any], Any],
    iterable: Iterable[Any],
    max_parallel: int | None = None,
    dir: str | None = None,
) -> list[Any]:
    """Map ``func`` over ``iterable`` in parallel processes inside one step; results keep order.

    ``func`` travels with cloudpickle, so lambdas and functions of the flow file work too.
    """
    import cloudpickle

    items = list(iterable)
    if len(items) <= 1:
        return [func(x) for x in items]
    payload = cloudpickle.dumps(func)
    with ProcessPoolExecutor(max_workers=max_parallel) as pool:
        return list(pool.map(_apply, [payload] * len(items), items))


def _apply(payload: bytes, item: Any) -> Any:
    import cloudpickle

    return cloudpickle.loads(payload)(item)


def parallel_imap_unordered(
    func: Callable[[Any], Any],
    iterable: Iterable[Any],
    max_parallel: int | None = None,
    dir: str | None = None,
) -> Iterator[Any]:
    yield from parallel_map(func, iterable, max_parallel=max_parallel)
