"""What users see of an exception raised in their step: their own frames only (rayflow's, Ray's
and cloudpickle's are left out), and the picklable wrapper ``@catch(var=...)`` stores."""

from __future__ import annotations

import os
import sys
import traceback


def qualified_name(exc: BaseException) -> str:
    """``module.Class`` of the exception; for the classes rayflow offers under Metaflow's names
    (``metaflow_name`` in the class's own body), the name Metaflow reports, which is what code
    written for Metaflow compares (``rayflow.X`` is the same path with ``rayflow`` first)."""
    cls = type(exc)
    public = cls.__dict__.get("metaflow_name")
    if isinstance(public, str):
        return public
    return f"{cls.__module__}.{cls.__qualname__}"


def _internal_dirs() -> tuple[str, ...]:
    dirs = {os.path.dirname(os.path.abspath(__file__))}
    for name in ("rayflow", "rayflow.datastore", "ray", "cloudpickle"):
        mod = sys.modules.get(name)
        if mod is not None and getattr(mod, "__file__", None):
            dirs.add(os.path.dirname(os.path.abspath(mod.__file__)))
    return tuple(d + os.sep for d in dirs)


def _user_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    internal = _internal_dirs()
    return [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not os.path.abspath(f.filename).startswith(internal)
    ]


def user_traceback(exc: BaseException) -> str:
    """The traceback with rayflow's and Ray's frames removed: users see only their own code."""
    frames = _user_frames(exc)
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()


def located(exc: BaseException) -> str:
    """A one-line message for rayflow's own errors, at the user's line when there is one."""
    frames = _user_frames(exc)
    where = f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""
    return f"{where}{exc}"


class CaughtException:
    """What ``@catch(var=...)`` stores: the exception's type, message and traceback, picklable.

    Mirrors Metaflow's wrapper: ``type`` is the qualified class name, ``exception`` the message,
    ``stacktrace`` the traceback, and ``repr`` the traceback text.
    """

    def __init__(self, exc: BaseException) -> None:
        self.type = qualified_name(exc)
        self.exception = str(exc)
        self.message = str(exc)
        self.stacktrace = user_traceback(exc)

    def __repr__(self) -> str:
        return self.stacktrace

    __str__ = __repr__
