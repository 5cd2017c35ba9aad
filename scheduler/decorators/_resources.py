"""``@resources``: what one task of the step needs from a Ray node (CPUs, GPUs, memory in MiB)."""

from __future__ import annotations

from typing import Any, ClassVar

from ._base import StepDecorator

MiB = 1024 * 1024


class ResourcesDecorator(StepDecorator):
    name = "resources"
    defaults: ClassVar[dict[str, Any]] = {
        "cpu": 1,
        "gpu": 0,
        "memory": None,
        "disk": None,
        "shared_memory": None,
    }

    @classmethod
    def ray_options(cls, attrs: dict[str, Any]) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "num_cpus": float(attrs.get("cpu") or 1),
            "num_gpus": float(attrs.get("gpu") or 0),
        }
        if attrs.get("memory"):
            opts["memory"] = int(float(attrs["memory"]) * MiB)
        return opts
