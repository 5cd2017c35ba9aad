"""Pictures drawn as inline SVG on the server: the step graph, a task timeline, and a sweep's
optimization history. No JavaScript library and no external asset, so the pages work offline."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from html import escape
from typing import Any

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#76b7b2",
    "#edc948",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
    "#e15759",
)
STATUS_COLOR = {
    "done": "#2e7d32",
    "successful": "#2e7d32",
    "running": "#1565c0",
    "failed": "#c62828",
    "pending": "#9e9e9e",
    "cloned": "#6a1b9a",
    "cached": "#00838f",
}


def _levels(plan: dict[str, Any], names: Sequence[str]) -> dict[str, int]:
    """Column of each step: the longest path from a step without parents (a DAG)."""
    parents: dict[str, list[str]] = defaultdict(list)
    for name in names:
        for target in (plan.get(name) or {}).get("out") or []:
            parents[target].append(name)
    level: dict[str, int] = {}

    def depth(name: str, seen: frozenset[str]) -> int:
        if name in level:
            return level[name]
        ps = [p for p in parents[name] if p not in seen and p in names]
        level[name] = 0 if not ps else 1 + max(depth(p, seen | {name}) for p in ps)
        return level[name]

    for name in names:
        depth(name, frozenset())
    return level


def step_graph(plan: dict[str, Any], steps: Sequence[Any], running: bool = False) -> str:
    """Boxes for the steps (colour = status, text = task counts) joined by arrows."""
    names = [s.name for s in steps]
    if not names:
        return ""
    by_name = {s.name: s for s in steps}
    level = _levels(plan, names)
    columns: dict[int, list[str]] = defaultdict(list)
    for name in names:
        columns[level[name]].append(name)
    w, h, gx, gy, pad = 170, 58, 56, 18, 10
    rows = max(len(c) for c in columns.values())
    width = pad * 2 + len(columns) * w + (len(columns) - 1) * gx
    height = pad * 2 + rows * h + (rows - 1) * gy
    pos = {}
    for col, members in columns.items():
        offset = (height - (len(members) * h + (len(members) - 1) * gy)) / 2
        for i, name in enumerate(members):
            pos[name] = (pad + col * (w + gx), offset + i * (h + gy))
    out = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="step graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#666"/>'
        "</marker></defs>",
    ]
    for name in names:
        node = plan.get(name) or {}
        for target in node.get("out") or []:
            if target not in pos:
                continue
            x1, y1 = pos[name][0] + w, pos[name][1] + h / 2
            x2, y2 = pos[target][0], pos[target][1] + h / 2
            dash = ' stroke-dasharray="5,3"' if node.get("foreach") else ""
            mx = (x1 + x2) / 2
            out.append(
                f'<path d="M{x1:.0f},{y1:.0f} C{mx:.0f},{y1:.0f} {mx:.0f},{y2:.0f} {x2 - 2:.0f},{y2:.0f}" '
                f'fill="none" stroke="#666" stroke-width="1.4"{dash} marker-end="url(#arrow)"/>'
            )
    for name in names:
        step = by_name[name]
        x, y = pos[name]
        color = STATUS_COLOR.get(step.status, "#9e9e9e")
        c = step.counts
        parts = [
            f"{c['done'] + c['cloned'] + c['cached']}/{step.total} done"
            if step.total
            else ("pending" if running else "not run")
        ]
        parts += [f"{c[k]} {k}" for k in ("running", "failed", "cloned", "cached") if c.get(k)]
        label = " · ".join(parts)
        node = plan.get(name) or {}
        kind = "foreach" if node.get("foreach") else ("join" if node.get("is_join") else "")
        out.append(
            f'<a href="#step-{escape(name)}"><g class="step step-{escape(step.status)}" '
            f'data-step="{escape(name)}">'
            f"<title>{escape(name)}: {escape(step.status)} ({escape(label)})</title>"
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{w}" height="{h}" rx="7" fill="#fff" '
            f'stroke="{color}" stroke-width="2.5"/>'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="7" height="{h}" rx="3" fill="{color}"/>'
            f'<text x="{x + 16:.0f}" y="{y + 22:.0f}" class="step-name">{escape(name)}'
            f"{f' <tspan class=kind>{kind}</tspan>' if kind else ''}</text>"
            f'<text x="{x + 16:.0f}" y="{y + 42:.0f}" class="step-counts">{escape(label)}</text>'
            f"</g></a>"
        )
    out.append("</svg>")
    return "".join(out)


def task_timeline(tasks: Sequence[Any], now: float | None = None) -> str:
    """One bar per task from start to end, packed into lanes (one lane = one busy worker at a
    time), coloured by step; failed tasks in red. Stand-in for rayflow._timeline."""
    timed = [t for t in tasks if t.started_at]
    if not timed:
        return '<p class="muted">No task has started yet.</p>'
    t0 = min(t.started_at for t in timed)
    t1 = max([(t.finished_at or now or t.started_at) for t in timed] + ([now] if now else []))
    span = max(t1 - t0, 1e-3)
    steps = list(dict.fromkeys(t.step for t in timed))
    color = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(steps)}
    lanes: list[float] = []
    placed = []
    for t in sorted(timed, key=lambda t: (t.started_at, t.step, t.id)):
        end = t.finished_at or now or t.started_at
        for i, free_at in enumerate(lanes):
            if free_at <= t.started_at:
                lanes[i] = end
                lane = i
                break
        else:
            lanes.append(end)
            lane = len(lanes) - 1
        placed.append((t, lane, end))
    width, left, top, lane_h = 1000, 10, 22, 12 if len(lanes) < 40 else 6
    plot_w = width - 2 * left
    height = top + len(lanes) * lane_h + 10
    out = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="none" role="img" aria-label="task timeline">'
    ]
    for tick in _ticks(0, span, 8):
        x = left + plot_w * tick / span
        out.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 6}" stroke="#eee"/>'
            f'<text x="{x:.1f}" y="{top - 8}" class="tick">{tick:g}s</text>'
        )
    for t, lane, end in placed:
        x = left + plot_w * (t.started_at - t0) / span
        bw = max(plot_w * (end - t.started_at) / span, 1.0)
        y = top + lane * lane_h
        fill = "#c62828" if t.state == "failed" else color[t.step]
        out.append(
            f'<rect class="bar" data-task="{escape(t.step)}/{escape(t.id)}" x="{x:.1f}" y="{y}" '
            f'width="{bw:.1f}" height="{lane_h - 2}" fill="{fill}">'
            f"<title>{escape(t.step)}/{escape(t.id)} ({escape(t.state)}) "
            f"{t.started_at - t0:.2f}s → {end - t0:.2f}s</title></rect>"
        )
    out.append("</svg>")
    legend = " ".join(
        f'<span class="legend"><i style="background:{c}"></i>{escape(s)}</span>'
        for s, c in color.items()
    )
    return "".join(out) + f'<div class="legends">{legend}</div>'


def step_spans(steps: Sequence[Any], now: float | None = None) -> str:
    """One bar per step, from its first task's start to its last task's end, labelled with its
    task counts: the timeline of a run too big to draw task by task."""
    timed = [s for s in steps if s.start]
    if not timed:
        return '<p class="muted">No task has started yet.</p>'
    t0 = min(s.start for s in timed)
    t1 = max([(s.end or now or s.start) for s in timed] + ([now] if now else []))
    span = max(t1 - t0, 1e-3)
    width, left, label_w, top, row_h = 1000, 10, 150, 22, 22
    plot_w = width - 2 * left - label_w
    height = top + len(timed) * row_h + 10
    out = [
        f'<svg class="timeline steps" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="step timeline">'
    ]
    for tick in _ticks(0, span, 8):
        x = left + label_w + plot_w * tick / span
        out.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 6}" stroke="#eee"/>'
            f'<text x="{x:.1f}" y="{top - 8}" class="tick">{tick:g}s</text>'
        )
    for i, s in enumerate(timed):
        end = s.end or now or s.start
        x = left + label_w + plot_w * (s.start - t0) / span
        bw = max(plot_w * (end - s.start) / span, 2.0)
        y = top + i * row_h
        fill = "#c62828" if s.status == "failed" else PALETTE[i % len(PALETTE)]
        counts = ", ".join(f"{n} {k}" for k, n in s.counts.items() if n)
        out.append(
            f'<text x="{left}" y="{y + 14}" class="label">{escape(s.name)}</text>'
            f'<rect class="step-bar" data-step="{escape(s.name)}" x="{x:.1f}" y="{y}" '
            f'width="{bw:.1f}" height="{row_h - 6}" fill="{fill}"><title>{escape(s.name)}: '
            f"{escape(counts)}, {s.start - t0:.2f}s → {end - t0:.2f}s</title></rect>"
        )
    out.append("</svg>")
    return "".join(out)


def _ticks(lo: float, hi: float, n: int) -> list[float]:
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step) + 1)]


def history_plot(points: Sequence[tuple[int, float]], direction: str) -> str:
    """Objective value of each completed trial (dots) and the best value so far (a step line)."""
    if not points:
        return '<p class="muted">No completed trial yet.</p>'
    width, height, ml, mr, mt, mb = 760, 320, 70, 20, 20, 42
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x_lo, x_hi = min(xs), max(max(xs), min(xs) + 1)
    y_lo, y_hi = min(ys), max(ys)
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 1, y_hi + 1
    pad = (y_hi - y_lo) * 0.06
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def sx(v: float) -> float:
        return ml + (width - ml - mr) * (v - x_lo) / (x_hi - x_lo)

    def sy(v: float) -> float:
        return mt + (height - mt - mb) * (1 - (v - y_lo) / (y_hi - y_lo))

    out = [
        f'<svg class="history" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="optimization history">',
        f'<rect x="{ml}" y="{mt}" width="{width - ml - mr}" height="{height - mt - mb}" fill="#fafafa" stroke="#ccc"/>',
    ]
    for v in _ticks(y_lo, y_hi, 6):
        out.append(
            f'<line x1="{ml}" x2="{width - mr}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" stroke="#e5e5e5"/>'
            f'<text x="{ml - 6}" y="{sy(v) + 4:.1f}" class="tick" text-anchor="end">{v:.4g}</text>'
        )
    for v in _ticks(x_lo, x_hi, 10):
        if float(v).is_integer():
            out.append(
                f'<text x="{sx(v):.1f}" y="{height - mb + 16}" class="tick" text-anchor="middle">{int(v)}</text>'
            )
    out.append(
        f'<text x="{(ml + width - mr) / 2}" y="{height - 6}" class="axis" text-anchor="middle">trial</text>'
        f'<text x="14" y="{(mt + height - mb) / 2}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 14 {(mt + height - mb) / 2})">objective</text>'
    )
    best: list[tuple[float, float]] = []
    current: float | None = None
    for x, y in sorted(points):
        if current is None or (y < current if direction == "minimize" else y > current):
            current = y
        best.append((x, current))
    path = f"M{sx(best[0][0]):.1f},{sy(best[0][1]):.1f}"
    for x, y in best[1:]:
        path += f" H{sx(x):.1f} V{sy(y):.1f}"
    path += f" H{sx(x_hi):.1f}"
    out.append(
        f'<path class="best-line" d="{path}" fill="none" stroke="#e15759" stroke-width="2"/>'
    )
    for x, y in points:
        out.append(
            f'<circle class="trial-dot" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" fill="#4e79a7">'
            f"<title>trial {x}: {y:.6g}</title></circle>"
        )
    out.append(
        f'<g class="legend-box"><circle cx="{ml + 14}" cy="{mt + 14}" r="4" fill="#4e79a7"/>'
        f'<text x="{ml + 24}" y="{mt + 18}" class="tick">objective value</text>'
        f'<line x1="{ml + 120}" x2="{ml + 140}" y1="{mt + 14}" y2="{mt + 14}" stroke="#e15759" stroke-width="2"/>'
        f'<text x="{ml + 146}" y="{mt + 18}" class="tick">best so far</text></g>'
    )
    out.append("</svg>")
    return "".join(out)
