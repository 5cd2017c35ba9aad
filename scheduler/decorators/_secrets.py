"""``@secrets(sources=[...], role=None, allow_override=False)``: key-value secrets set as
environment variables while the step runs, as Metaflow's decorator does.

A source is ``"TYPE.ID"`` (or ``"ID"`` with the default type from ``RAYFLOW_DEFAULT_SECRETS_BACKEND_TYPE``
/ ``METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE``) or a dict ``{"type", "id", "options", "role"}``. The
providers that make sense without a cloud account:

- ``inline``: the pairs are in the source, ``options={"env_vars": {...}}`` (Metaflow's test
  provider; the values are stored in the run's plan, so keep real secrets out of it);
- ``env``: the pairs are a JSON object in the task's environment variable ``ID`` (how a
  platform hands a node its secrets, e.g. a Kubernetes secret mounted as a variable).

Any other type (``aws-secrets-manager``, ``az-key-vault``, ``gcp-secret-manager``) is refused
before the run starts, in one line. The variables are restored when the step ends, since a Ray
worker runs many tasks; a name that is already set is an error unless ``allow_override``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from typing import Any, ClassVar

from .._errors import DecoratorError
from ._base import StepDecorator, TaskInfo
from ._environment import _variables

PROVIDERS = ("inline", "env")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SecretsError(DecoratorError):
    """A @secrets source is malformed, names a provider rayflow lacks, or gives bad pairs."""


class SecretsDecorator(StepDecorator):
    name = "secrets"
    defaults: ClassVar[dict[str, Any]] = {"sources": [], "role": None, "allow_override": False}
    cache_relevant = False  # which credentials a step used does not change what it computes

    @classmethod
    def check(cls, attrs: dict[str, Any], step: str) -> None:
        sources = attrs.get("sources")
        if not isinstance(sources, (list, tuple)):
            raise SecretsError(
                f"@secrets on step '{step}': sources must be a list, got {type(sources).__name__}"
            )
        for source in sources:
            try:
                source_spec(source)
            except SecretsError as exc:
                raise SecretsError(
                    f"@secrets on step '{step}': {str(exc).removeprefix('@secrets ')}"
                ) from None

    @classmethod
    def wraps_step(
        cls, attrs: dict[str, Any], task: TaskInfo
    ) -> contextlib.AbstractContextManager[Any]:
        found: dict[str, str] = {}
        for source in attrs.get("sources") or []:
            kind, ident, options = source_spec(source)
            for key, value in _pairs(kind, ident, options).items():
                if key in found:
                    raise SecretsError(
                        f"@secrets on step '{task.step}': variable {key} is given by "
                        f"two sources (the second: {kind}.{ident})"
                    )
                found[key] = value
        if not attrs.get("allow_override"):
            clash = sorted(k for k in found if k in os.environ)
            if clash:
                raise SecretsError(
                    f"@secrets on step '{task.step}': {', '.join(clash)} already set in "
                    "the environment (allow_override=True replaces it)"
                )
        return _variables(found)


def source_spec(source: Any) -> tuple[str, str, dict[str, Any]]:
    """``(type, id, options)`` of one source; an unusable one is a SecretsError."""
    if isinstance(source, str):
        kind, dot, ident = source.partition(".")
        if not dot:
            kind, ident = _default_type(source), source
        options: Any = {}
    elif isinstance(source, dict):
        kind, ident, options = source.get("type"), source.get("id"), source.get("options", {})
        if kind is None:
            kind = _default_type(str(ident))
        if not isinstance(ident, str) or not isinstance(kind, str) or not isinstance(options, dict):
            raise SecretsError(
                f"@secrets source {source!r}: needs 'id' (str), and 'type' (str) and "
                "'options' (dict) when given"
            )
    else:
        raise SecretsError(f"@secrets source {source!r}: expected 'TYPE.ID' or a dict")
    if kind not in PROVIDERS:
        raise SecretsError(
            f"@secrets source {ident!r}: rayflow has no '{kind}' secrets provider "
            f"(it has: {', '.join(PROVIDERS)})"
        )
    return kind, ident, options


def _default_type(ident: str) -> str:
    from rayflow.datastore import settings

    kind = settings.default_secrets_backend()
    if kind is None:
        raise SecretsError(
            f"@secrets source {ident!r}: no provider named; write 'TYPE.{ident}' or "
            "set RAYFLOW_DEFAULT_SECRETS_BACKEND_TYPE"
        )
    return kind


def _pairs(kind: str, ident: str, options: dict[str, Any]) -> dict[str, str]:
    if kind == "inline":
        pairs = options.get("env_vars", {})
    else:
        raw = os.environ.get(ident)
        if raw is None:
            raise SecretsError(
                f"@secrets source env.{ident}: the variable {ident} is not set in the task's environment"
            )
        try:
            pairs = json.loads(raw)
        except json.JSONDecodeError:
            raise SecretsError(
                f"@secrets source env.{ident}: the variable {ident} does not hold a JSON object"
            ) from None
    if not isinstance(pairs, dict):
        raise SecretsError(
            f"@secrets source {kind}.{ident}: the secret is not a mapping of names to values"
        )
    for key, value in pairs.items():
        if not isinstance(key, str) or not _NAME.match(key) or not isinstance(value, str):
            raise SecretsError(
                f"@secrets source {kind}.{ident}: {key!r} is not a variable name with a text value"
            )
    return dict(pairs)
