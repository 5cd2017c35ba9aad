"""Small formatting helpers shared by the pages (times, durations, sizes), used as Jinja filters."""

from __future__ import annotations

import datetime
import time
from typing import Any


def when(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def seconds(s: float | None) -> str:
    if s is None:
        return "-"
    s = max(0.0, float(s))
    if s < 10:
        return f"{s:.2f}s"
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def duration(start: float | None, end: float | None, running: bool = False) -> str:
    """``end - start``; a running thing without an end is measured up to now."""
    if not start:
        return "-"
    if not end:
        return seconds(time.time() - start) if running else "-"
    return seconds(end - start)


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


FILTERS = {"when": when, "seconds": seconds, "duration": duration, "size": size, "short": short}
