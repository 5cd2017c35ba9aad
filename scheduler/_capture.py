"""Capture a step's stdout/stderr while still letting the output reach the terminal live.

Lines are kept for the datastore and handed, as they complete, to an optional ``sink`` callable
that forwards them to the driver.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import Any

Sink = Callable[[str, list[str]], None]


class _Tee(io.TextIOBase):
    def __init__(self, stream: str, sink: Sink | None) -> None:
        self.stream = stream
        self.sink = sink
        self.parts: list[str] = []
        self._line = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            text = str(text)
        self.parts.append(text)
        if self.sink is not None:
            buf = self._line + text
            if "\n" in buf:
                *lines, self._line = buf.split("\n")
                self.sink(self.stream, lines)
            else:
                self._line = buf
        return len(text)

    def flush(self) -> None:
        pass

    def close_line(self) -> None:
        if self.sink is not None and self._line:
            self.sink(self.stream, [self._line])
            self._line = ""

    def getvalue(self) -> str:
        return "".join(self.parts)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def isatty(self) -> bool:
        return False


class Capture:
    """``with Capture(sink) as cap: ...`` then ``cap.stdout`` / ``cap.stderr``."""

    def __init__(self, sink: Sink | None = None) -> None:
        self.out = _Tee("stdout", sink)
        self.err = _Tee("stderr", sink)
        self._saved: tuple[Any, Any] | None = None

    def __enter__(self) -> Capture:
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = self.out, self.err
        return self

    def __exit__(self, *exc: Any) -> None:
        self.out.close_line()
        self.err.close_line()
        assert self._saved is not None
        sys.stdout, sys.stderr = self._saved

    @property
    def stdout(self) -> str:
        return self.out.getvalue()

    @property
    def stderr(self) -> str:
        return self.err.getvalue()
