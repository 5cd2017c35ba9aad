"""Task identity: a task's id is derived from its foreach path, so the same task has the same id
in every run of a flow and a resume can match tasks exactly.

A frame is ``(foreach_step, index, num_splits, item_key)``; ``item_key`` is the content key of
the split's own item, so a split reads only its item, never the whole list.
"""

from __future__ import annotations

import getpass
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from rayflow.datastore import settings

Frame = tuple  # (foreach_step: str, index: int, num_splits: int, item_key: str)

# A step that switches back to itself (a recursive switch) runs again as a new task: its frames
# end with ``(LOOP, iteration, 0, None)``, so iteration k of task "3" is task "3.k" (k >= 1).
LOOP = "*"


def foreach_frames(frames: Any) -> list:
    """The foreach frames alone (what ``self.input``, ``self.index`` and the stack describe)."""
    return [f for f in frames if f[0] != LOOP]


def task_id_of(frames: tuple) -> str:
    return ".".join(str(f[1]) for f in frames) if frames else "0"


@dataclass
class TaskSpec:
    """What the driver knows of one task: small enough to hold 10,000s of them."""

    step: str
    frames: tuple = ()
    inputs: tuple = ()  # ((step, task_id), ...) in the same run
    attempt: int = 0
    ready_at: float = field(default_factory=time.time)
    caught: dict | None = None  # @catch after a worker died: the error the attempt stores
    # The attempt of each input whose record is the input's (what the task reads, in one read).
    input_attempts: tuple = ()

    @property
    def task_id(self) -> str:
        return task_id_of(self.frames)

    @property
    def key(self) -> tuple[str, str]:
        return (self.step, self.task_id)

    def label(self) -> str:
        return f"{self.step}/{self.task_id}"

    def to_wire(self) -> dict:
        return {
            "step": self.step,
            "frames": [list(f) for f in self.frames],
            "inputs": [list(i) for i in self.inputs],
            "attempt": self.attempt,
            "ready_at": self.ready_at,
            "caught": self.caught,
            "input_attempts": list(self.input_attempts),
        }


def new_run_id() -> str:
    """Unique and sortable by start time (UTC, to the millisecond), e.g. ``20261122T231215.042-7f3a9c``."""
    now = time.time()
    millis = int((now % 1) * 1000)
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}.{millis:03d}-{secrets.token_hex(3)}"


def username() -> str:
    value = settings.user()
    if value:
        return value
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return "unknown"
