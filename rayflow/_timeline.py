"""A run's timeline as one self-contained HTML file: inline SVG and a little inline JS, no assets.

One bar per task attempt, in one lane per worker process (grouped by node), coloured by step.
Failed attempts are hatched with a red border, retries have a dashed border, the critical path is
outlined. Hovering a bar shows its task, attempt, worker and times (a JS tooltip; the SVG
``<title>`` of each bar says the same when scripts are off). The run's numbers sit above it.

Every bar is a ``<rect class="bar">`` carrying ``data-task``, ``data-step``, ``data-attempt`` and
``data-status``; once the script has run, each bar the browser laid out has ``data-drawn="1"`` and
the ``.drawn`` line holds the count in ``data-count`` (what the browser test checks).

``fragment(stats)`` is the same content as one ``<div class="rf-timeline">`` (scoped style and
script, no ids that could clash) for pages that embed it, such as the web UI.
"""

from __future__ import annotations

import html
import math
from typing import Any

from ._stats import Attempt, RunStats, run_stats
from ._statstext import seconds, summary_lines

PALETTE = [
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#76b7b2",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#86bcb6",
    "#bab0ac",
    "#8cd17d",
    "#a0cbe8",
    "#d4a6c8",
    "#f1ce63",
]
LABEL_W, CHART_W, LANE_H, BAR_H, AXIS_H, NODE_H = 230, 1000, 18, 13, 26, 20


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _nice_step(span: float, target: int = 10) -> float:
    if span <= 0:
        return 1.0
    raw = span / target
    base = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * base:
            return mult * base
    return 10 * base


def _lanes(attempts: list[Attempt]) -> list[tuple[str, str, list[Attempt]]]:
    """(node label, worker label, attempts) per lane: nodes and workers by first start.

    Attempts of one worker never overlap in practice; if they do, extra lanes are added so no bar
    hides another.
    """
    by_worker: dict[tuple[str, Any], list[Attempt]] = {}
    for a in attempts:
        node = a.node_id or (a.host if a.host else "")
        worker = a.pid if a.pid is not None else None
        by_worker.setdefault((node, worker), []).append(a)
    first: dict[str, float] = {}
    for (node, _), group in by_worker.items():
        t = min(_start(a) for a in group)
        first[node] = min(first.get(node, t), t)
    lanes = []
    for (node, worker), group in sorted(
        by_worker.items(), key=lambda kv: (first[kv[0][0]], min(_start(a) for a in kv[1]))
    ):
        group.sort(key=_start)
        host = next((a.host for a in group if a.host), "")
        if node:
            node_label = f"{host} · node {node[:8]}" if node != host else host
        else:
            node_label = "worker died: node unknown"
        worker_label = f"pid {worker}" if worker is not None else "lost worker"
        ends: list[float] = []
        rows: list[list[Attempt]] = []
        for a in group:
            for i, end in enumerate(ends):
                if _start(a) >= end:
                    ends[i] = a.finished_at or _start(a)
                    rows[i].append(a)
                    break
            else:
                ends.append(a.finished_at or _start(a))
                rows.append([a])
        for i, row in enumerate(rows):
            lanes.append((node_label, worker_label + (f" ({i + 1})" if i else ""), row))
    return lanes


def _start(a: Attempt) -> float:
    return a.started_at if a.started_at is not None else (a.ready_at or a.finished_at or 0.0)


def _svg(stats: RunStats, colours: dict[str, str]) -> str:
    shown = [a for a in stats.attempts if not a.cloned]
    t0 = stats.created_at or min((_start(a) for a in shown), default=0.0)
    t1 = max([stats.finished_at or t0] + [a.finished_at or t0 for a in shown])
    span = max(t1 - t0, 1e-3)

    def x(t: float | None) -> float:
        return LABEL_W + CHART_W * ((t if t is not None else t0) - t0) / span

    lanes = _lanes(shown)
    out: list[str] = []
    y = AXIS_H
    previous_node = None
    critical = set(stats.critical_path)
    for node_label, worker_label, row in lanes:
        if node_label != previous_node:
            out.append(f'<text class="node" x="4" y="{y + 14}">{_esc(node_label)}</text>')
            out.append(
                f'<line class="sep" x1="0" x2="{LABEL_W + CHART_W}" y1="{y + 0.5}" y2="{y + 0.5}"/>'
            )
            y += NODE_H
            previous_node = node_label
        out.append(f'<text class="worker" x="14" y="{y + BAR_H - 2}">{_esc(worker_label)}</text>')
        for a in row:
            start = _start(a)
            end = a.finished_at if a.finished_at is not None else start
            bx, width = x(start), max(1.0, x(end) - x(start))
            classes = _bar_classes(a, critical)
            if a.ready_at is not None and a.started_at is not None and a.started_at > a.ready_at:
                out.append(
                    f'<line class="wait" x1="{x(a.ready_at):.2f}" x2="{bx:.2f}" '
                    f'y1="{y + BAR_H / 2}" y2="{y + BAR_H / 2}"/>'
                )
            title = _title(a, t0)
            attrs = " ".join(f'data-{k}="{_esc(v)}"' for k, v in _bar_data(a, t0).items())
            out.append(
                f'<rect class="{" ".join(classes)}" x="{bx:.2f}" y="{y}" width="{width:.2f}" '
                f'height="{BAR_H}" fill="{colours.get(a.step, "#999")}" {attrs}>'
                f"<title>{_esc(title)}</title></rect>"
            )
            if a.failed:
                out.append(
                    f'<rect class="hatch" x="{bx:.2f}" y="{y}" width="{width:.2f}" '
                    f'height="{BAR_H}" fill="url(#rf-hatch)"/>'
                )
        y += LANE_H
    height = y + 8
    axis = []
    step = _nice_step(span)
    k = 0
    while k * step <= span + 1e-9:
        tx = x(t0 + k * step)
        axis.append(
            f'<line class="tick" x1="{tx:.2f}" x2="{tx:.2f}" y1="{AXIS_H - 6}" y2="{height}"/>'
            f'<text class="tick" x="{tx:.2f}" y="{AXIS_H - 10}">{_esc(_tick(k * step, step))}</text>'
        )
        k += 1
    defs = (
        '<defs><pattern id="rf-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="3" height="6" fill="rgba(200,0,0,0.55)"/>'
        "</pattern></defs>"
    )
    return (
        f'<svg class="rf-chart" xmlns="http://www.w3.org/2000/svg" width="{LABEL_W + CHART_W + 10}" '
        f'height="{height}" viewBox="0 0 {LABEL_W + CHART_W + 10} {height}">{defs}'
        + "".join(axis)
        + "".join(out)
        + "</svg>"
    )


def _bar_classes(a: Attempt, critical: set) -> list[str]:
    """CSS classes of an attempt's bar: what the chart's legend tells apart."""
    classes = ["bar"]
    for flag, name in (
        (a.failed, "failed"),
        (a.attempt > 0, "retry"),
        (a.key in critical, "critical"),
        (a.started_at is None, "nostart"),
    ):
        if flag:
            classes.append(name)
    return classes


def _bar_data(a: Attempt, t0: float) -> dict[str, Any]:
    """The ``data-*`` attributes of an attempt's bar, read by the page's hover card."""
    return {
        "task": a.label,
        "step": a.step,
        "attempt": a.attempt,
        "status": a.status,
        "node": a.node_id,
        "host": a.host,
        "pid": "" if a.pid is None else a.pid,
        "ready": _rel(a.ready_at, t0),
        "start": _rel(a.started_at, t0),
        "end": _rel(a.finished_at, t0),
        "error": a.error or "",
    }


def _rel(t: float | None, t0: float) -> str:
    return "" if t is None else f"{t - t0:.4f}"


def _tick(value: float, step: float) -> str:
    if step < 0.01:
        return f"{value * 1000:.0f} ms"
    if step < 1:
        return f"{round(value, 3):g} s"
    if value < 600:
        return f"{value:.0f} s"
    return f"{int(value // 60)}m{int(value % 60):02d}s"


def _title(a: Attempt, t0: float) -> str:
    def at(t: float | None) -> str:
        return "unknown" if t is None else f"+{t - t0:.3f} s"

    lines = [
        f"{a.label}  attempt {a.attempt}  {a.status}",
        f"ready {at(a.ready_at)}, start {at(a.started_at)}, end {at(a.finished_at)}",
        f"ran {seconds(a.duration)}, waited {seconds(a.latency)}",
        f"{a.host} pid {a.pid if a.pid is not None else '?'}",
    ]
    if a.error:
        lines.append(a.error[:300])
    return "\n".join(lines)


CSS = """
.rf-timeline{font:13px system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#222}
.rf-timeline h1{font-size:17px;margin:0 0 10px}
.rf-timeline table.numbers{border-collapse:collapse;margin-bottom:10px}
.rf-timeline table.numbers td{padding:2px 14px 2px 0;vertical-align:top}
.rf-timeline table.numbers td:first-child{color:#555;white-space:nowrap}
.rf-timeline .legend{margin:8px 0 10px;display:flex;flex-wrap:wrap;gap:12px;align-items:center}
.rf-timeline .legend span.sw{display:inline-block;width:14px;height:11px;margin-right:4px;vertical-align:-1px}
.rf-timeline svg text{font-size:11px;fill:#333}
.rf-timeline svg text.node{font-weight:600}
.rf-timeline svg text.tick{text-anchor:middle;fill:#777}
.rf-timeline svg line.tick{stroke:#eee}
.rf-timeline svg line.sep{stroke:#ccc}
.rf-timeline svg line.wait{stroke:#bbb;stroke-width:1}
.rf-timeline svg rect.bar{stroke:rgba(0,0,0,.25);stroke-width:.5}
.rf-timeline svg rect.bar.critical{stroke:#111;stroke-width:1.6}
.rf-timeline svg rect.bar.retry{stroke:#111;stroke-dasharray:3 2;stroke-width:1.2}
.rf-timeline svg rect.bar.failed{stroke:#c00;stroke-width:1.6;fill-opacity:.55}
.rf-timeline svg rect.bar.nostart{fill-opacity:.25}
.rf-timeline svg rect.hatch{pointer-events:none}
.rf-timeline svg rect.bar:hover{fill-opacity:.75}
.rf-timeline svg.dim rect.bar:not(.hl){opacity:.2}
.rf-timeline .tip{position:fixed;display:none;background:#fff;border:1px solid #999;padding:6px 8px;
 font:12px ui-monospace,Menlo,Consolas,monospace;white-space:pre;pointer-events:none;z-index:10;
 box-shadow:0 2px 6px rgba(0,0,0,.2);max-width:640px;overflow:hidden}
.rf-timeline .note{color:#666;margin:6px 0}
"""

JS = """
(function(){
  var root=document.currentScript.parentNode;
  var svg=root.querySelector('svg.rf-chart'), tip=root.querySelector('.tip');
  var bars=svg.querySelectorAll('rect.bar'), drawn=0;
  function f(v){return v===''?'unknown':'+'+(+v).toFixed(3)+' s';}
  function show(e){
    var d=e.target.dataset, run=(d.start!==''&&d.end!=='')?(d.end-d.start).toFixed(3)+' s':'unknown';
    var wait=(d.start!==''&&d.ready!=='')?Math.max(0,d.start-d.ready).toFixed(3)+' s':'unknown';
    tip.textContent=d.task+'  attempt '+d.attempt+'  '+d.status+'\\nready '+f(d.ready)+
      '\\nstart '+f(d.start)+'\\nend   '+f(d.end)+'\\nran '+run+', waited '+wait+
      '\\n'+d.host+' pid '+(d.pid||'?')+(d.node?'\\nnode '+d.node:'')+(d.error?'\\n'+d.error.slice(0,300):'');
    tip.style.display='block';
    var x=e.clientX+14, y=e.clientY+14;
    if(x+tip.offsetWidth>window.innerWidth)x=e.clientX-tip.offsetWidth-8;
    if(y+tip.offsetHeight>window.innerHeight)y=e.clientY-tip.offsetHeight-8;
    tip.style.left=x+'px'; tip.style.top=y+'px';
  }
  for(var i=0;i<bars.length;i++){
    var b=bars[i], box=b.getBBox();
    if(box.width>0&&box.height>0){b.setAttribute('data-drawn','1');drawn++;}
    var t=b.querySelector('title'); if(t){b.setAttribute('aria-label',t.textContent);b.removeChild(t);}
    b.addEventListener('mousemove',show);
    b.addEventListener('mouseleave',function(){tip.style.display='none';});
  }
  var c=root.querySelector('.drawn');
  c.setAttribute('data-count',drawn); c.textContent=drawn+' of '+bars.length+' attempts drawn';
  var items=root.querySelectorAll('.legend [data-step]');
  for(var j=0;j<items.length;j++){
    items[j].addEventListener('mouseenter',function(e){
      var s=e.currentTarget.getAttribute('data-step');
      for(var k=0;k<bars.length;k++){bars[k].classList.toggle('hl',bars[k].dataset.step===s);}
      svg.classList.add('dim');
    });
    items[j].addEventListener('mouseleave',function(){svg.classList.remove('dim');});
  }
})();
"""


def fragment(stats: RunStats, heading: bool = True) -> str:
    """The timeline as one ``<div class="rf-timeline">``: numbers, legend, chart, style, script."""
    steps = list(dict.fromkeys(a.step for a in stats.attempts))
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(steps)}
    numbers = "".join(
        f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>" for k, v in summary_lines(stats)
    )
    legend = "".join(
        f'<span data-step="{_esc(s)}"><span class="sw" style="background:{c}"></span>'
        f"{_esc(s)}</span>"
        for s, c in colours.items()
    )
    legend += (
        '<span><span class="sw" style="background:#999;outline:1.6px solid #c00;'
        "background-image:repeating-linear-gradient(45deg,rgba(200,0,0,.55) 0 2px,"
        'transparent 2px 4px)"></span>failed attempt</span>'
        '<span><span class="sw" style="background:#999;outline:1.2px dashed #111">'
        "</span>retry</span>"
        '<span><span class="sw" style="background:#999;outline:1.6px solid #111"></span>'
        "critical path</span>"
        '<span><span class="sw" style="background:#bbb;height:1px;vertical-align:3px">'
        "</span>waiting (ready → start)</span>"
    )
    cloned = stats.cloned_tasks
    note = (
        f'<p class="note">{cloned} cloned tasks ran in earlier runs and are not drawn.</p>'
        if cloned
        else ""
    )
    title = f"{stats.flow}/{stats.run_id}"
    head = f"<h1>{_esc(title)} <small>({_esc(stats.status)})</small></h1>" if heading else ""
    return (
        f'<div class="rf-timeline"><style>{CSS}</style>{head}'
        f'<table class="numbers">{numbers}</table>'
        f'<div class="legend">{legend}</div>{note}'
        f'<p class="note drawn" data-count="0">(scripts off: hover a bar for its title)</p>'
        f'{_svg(stats, colours)}<div class="tip"></div>'
        f"<script>{JS}</script></div>"
    )


def render(stats: RunStats) -> str:
    """The whole HTML page for ``stats`` (a string; nothing outside it is referenced)."""
    title = f"{stats.flow}/{stats.run_id}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>timeline {_esc(title)}</title><style>body{{margin:18px}}</style></head>"
        f"<body>{fragment(stats)}</body></html>\n"
    )


def write_timeline(run: Any, path: str) -> RunStats:
    """Write the timeline of a client ``Run`` (or ``Flow/run_id``) to ``path``; return its stats."""
    stats = run_stats(run)
    with open(path, "w", encoding="utf-8") as f:
        f.write(render(stats))
    return stats


__all__ = ["fragment", "render", "write_timeline"]
