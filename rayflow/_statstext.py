"""The numbers of ``rayflow._stats`` as text: ``rayflow show --stats``, ``rayflow timeline``
and the timeline page's summary share these lines, so the three never disagree."""

from __future__ import annotations

from typing import Any

from ._stats import RunStats, run_stats


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0 s"
    if value < 1:
        return f"{value * 1000:.0f} ms" if value >= 0.001 else f"{value * 1000:.2f} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{int(value // 60)}m{value % 60:04.1f}s"


def path_text(path: list[tuple[str, str]], limit: int = 12) -> str:
    labels = [f"{s}/{t}" for s, t in path]
    if len(labels) > limit:
        labels = labels[: limit // 2] + ["..."] + labels[-limit // 2 :]
    return " -> ".join(labels) if labels else "-"


def _n(count: int, word: str) -> str:
    return (
        f"{count} {word}" if count == 1 else f"{count} {word}{'es' if word.endswith('s') else 's'}"
    )


def summary_lines(stats: RunStats) -> list[tuple[str, str]]:
    """(label, value) pairs: the numbers shown by ``show --stats`` and above the timeline."""
    cpus = (
        f"{stats.cpus} (recorded)"
        if stats.cpus_recorded
        else f"{stats.cpus} (estimated: most attempts seen running at once)"
    )
    eff = f"{100 * stats.efficiency:.0f}%" if stats.efficiency is not None else "-"
    ran = sum(1 for a in stats.attempts if a.duration is not None)
    lines = [
        ("wall time", seconds(stats.wall_s)),
        (
            "task time",
            f"{seconds(stats.task_s)} in {_n(ran, 'attempt')} of {_n(stats.tasks, 'task')}"
            + (f" ({stats.failed_attempts} failed)" if stats.failed_attempts else ""),
        ),
        ("CPUs", cpus),
        (
            "parallel efficiency",
            f"{eff}  (task time / (wall time x CPUs); at most {stats.peak_running} ran at once)",
        ),
        (
            "scheduling latency",
            f"median {seconds(stats.latency_median_s)}, "
            f"p95 {seconds(stats.latency_p95_s)}  (ready -> start)",
        ),
        ("critical path", f"{seconds(stats.critical_path_s)}: {path_text(stats.critical_path)}"),
        ("workers", f"{_n(stats.workers, 'worker process')} on {_n(len(stats.nodes), 'node')}"),
    ]
    if stats.retried_tasks:
        lines.append(("retried", _n(stats.retried_tasks, "task")))
    if stats.cloned_tasks:
        lines.append(
            ("cloned", f"{_n(stats.cloned_tasks, 'task')} reused from earlier runs (no run time)")
        )
    lost = sum(1 for a in stats.attempts if not a.cloned and a.started_at is None)
    if lost:
        lines.append(
            ("unknown start", f"{_n(lost, 'attempt')} whose worker died (not in task time)")
        )
    return lines


def stats_text(run: Any) -> str:
    """The parallelism report of a run as plain text (``rayflow show RUN --stats``)."""
    stats = run if isinstance(run, RunStats) else run_stats(run)
    head = [f"run {stats.flow}/{stats.run_id}  ({stats.status})"]
    width = max(len(label) for label, _ in summary_lines(stats))
    head += [f"  {label.ljust(width)}  {value}" for label, value in summary_lines(stats)]
    cols = ["step", "tasks", "attempts", "failed", "task time", "max"]
    rows = [
        [s.step, str(s.tasks), str(s.attempts), str(s.failed), seconds(s.task_s), seconds(s.max_s)]
        for s in stats.steps
    ]
    widths = [
        max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)
    ]
    fmt = "  " + "  ".join(("{:<%d}" if i == 0 else "{:>%d}") % w for i, w in enumerate(widths))
    table = [fmt.format(*cols)] + [fmt.format(*r) for r in rows]
    return "\n".join(head + [""] + table)


__all__ = ["path_text", "seconds", "stats_text", "summary_lines"]
