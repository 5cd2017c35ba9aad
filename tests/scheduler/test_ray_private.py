"""Ray's private modules are used in one adapter (scheduler/_ray_private.py) only, and every
attribute it relies on exists in the installed Ray: a Ray upgrade that moves one fails here,
loudly and by name, instead of silently switching a feature off."""

from __future__ import annotations

import ast
import os

import ray

from rayflow.scheduler import _ray_private

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADAPTER = os.path.join("scheduler", "_ray_private.py")


def test_every_private_ray_attribute_the_adapter_needs_exists():
    gone = _ray_private.missing()
    assert not gone, (
        f"Ray {ray.__version__} no longer has what rayflow's adapter {ADAPTER} uses: "
        + "; ".join(gone)
        + " (update the adapter for this Ray version)"
    )


def test_no_module_but_the_adapter_imports_a_private_ray_module():
    found = []
    for folder in ("rayflow", "scheduler", "datastore", "sweeps"):
        for root, _, files in os.walk(os.path.join(REPO, folder)):
            for name in files:
                path = os.path.join(root, name)
                if not name.endswith(".py") or os.path.relpath(path, REPO) == ADAPTER:
                    continue
                with open(path) as f:
                    tree = ast.parse(f.read())
                for node in ast.walk(tree):
                    names = (
                        [node.module or ""]
                        if isinstance(node, ast.ImportFrom)
                        else [a.name for a in node.names]
                        if isinstance(node, ast.Import)
                        else []
                    )
                    for module in names:
                        if module.startswith(("ray._", "ray.core")):
                            found.append(f"{os.path.relpath(path, REPO)}:{node.lineno}: {module}")
    assert found == []


def test_the_adapter_reads_this_rays_session_folder(ray_session):
    folder = _ray_private.session_dir()
    assert os.path.isdir(folder) and os.path.basename(folder).startswith("session_")
