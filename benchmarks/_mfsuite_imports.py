"""The import lines of Metaflow's test sources, changed to rayflow: in each generated flow (which
names it imports) and in the checkers (``metaflow_test``) staged beside it, with stand-ins for the
few Metaflow internals the checkers use. Part of ``benchmarks/metaflow_suite.py``."""

from __future__ import annotations

import os
import re

# Names Metaflow's generated flows import; each flow imports only those its code mentions.
FLOW_NAMES = (
    "Config",
    "config_expr",
    "FlowSpec",
    "step",
    "Parameter",
    "project",
    "IncludeFile",
    "JSONType",
    "current",
    "parallel",
    "FlowMutator",
    "StepMutator",
    "UserStepDecorator",
    "user_step_decorator",
)
TEST_HELPERS = (
    "assert_equals",
    "assert_equals_metadata",
    "assert_exception",
    "ExpectationFailed",
    "is_resumed",
    "ResumeFromHere",
    "TestRetry",
    "try_to_get_card",
)
_IMPORT = re.compile(r"^(\s*(?:from|import)\s+)metaflow(?=[\s.,]|$)", re.M)
# Metaflow-internal modules the checkers import (not paths users import): mapped to rayflow's
# public module for the same thing, or to a few lines this runner writes beside the checkers.
INTERNAL = {
    "metaflow.plugins.cards.exception": "rayflow.cards",
    "metaflow.plugins.cards.card_modules.test_cards": "rayflow.cards._testcards",
    "metaflow.util": "metaflow_suite_compat",
    "metaflow.includefile": "metaflow_suite_compat",
}
COMPAT = '''"""Stand-ins for Metaflow internals the checkers use (written by benchmarks/metaflow_suite.py)."""
def is_stringish(x):
    return isinstance(x, (str, bytes, bytearray))
try:
    from rayflow import IncludedFile
except ImportError:
    class IncludedFile:  # rayflow hands an IncludeFile's contents over as str/bytes
        pass
'''


def rewrite_imports(text: str) -> str:
    """``from metaflow... import`` / ``import metaflow...`` -> rayflow (``metaflow_test`` stays)."""
    for internal, mapped in INTERNAL.items():
        text = re.sub(
            rf"^(\s*from\s+){re.escape(internal)}(?=\s)", rf"\g<1>{mapped}", text, flags=re.M
        )
    return _IMPORT.sub(r"\1rayflow", text)


def stage_helpers(core: str, stage_dir: str) -> None:
    """Copy ``metaflow_test`` (the checkers) with its import lines changed to rayflow."""
    src = os.path.join(core, "metaflow_test")
    dst = os.path.join(stage_dir, "metaflow_test")
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(stage_dir, "metaflow_suite_compat.py"), "w") as f:
        f.write(COMPAT)
    for name in os.listdir(src):
        if name.endswith(".py"):
            text = open(os.path.join(src, name), encoding="utf-8").read()
            with open(os.path.join(dst, name), "w", encoding="utf-8") as f:
                f.write(rewrite_imports(text))
