from __future__ import annotations

import os

import pytest


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "work"
    path.mkdir()
    return str(path)


def executions(folder: str) -> list[str]:
    path = os.path.join(folder, "executions.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def touch(folder: str, name: str) -> None:
    open(os.path.join(folder, name), "w").close()


def untouch(folder: str, name: str) -> None:
    os.remove(os.path.join(folder, name))
