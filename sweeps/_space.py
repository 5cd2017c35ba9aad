"""Search spaces: ``NAME=SPEC`` strings (or a YAML file of them) to Optuna distributions.

SPEC forms: ``float:LOW:HIGH``, ``float:LOW:HIGH:log``, ``int:LOW:HIGH``, ``int:LOW:HIGH:STEP``,
``categorical:a,b,c``. Categorical values are parsed as numbers when they look like numbers.
"""

from __future__ import annotations

from typing import Any

from rayflow.scheduler import SchedulerError


class SpaceError(SchedulerError):
    """A search-space entry cannot be understood."""


def _number(text: str, kind: type, where: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise SpaceError(f"{where}: {text!r} is not a valid {kind.__name__}") from None


def _category(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_spec(name: str, spec: str, where: str | None = None) -> Any:
    import optuna.distributions as d

    where = where or f"--space {name}={spec}"
    kind, _, rest = spec.partition(":")
    parts = rest.split(":") if rest else []
    if kind == "float":
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise SpaceError(f"{where}: expected float:LOW:HIGH or float:LOW:HIGH:log")
        low, high = _number(parts[0], float, where), _number(parts[1], float, where)
        if low >= high:
            raise SpaceError(f"{where}: LOW must be below HIGH")
        if len(parts) == 3 and low <= 0:
            raise SpaceError(f"{where}: a log scale needs LOW > 0")
        return d.FloatDistribution(low, high, log=len(parts) == 3)
    if kind == "int":
        if len(parts) not in (2, 3):
            raise SpaceError(f"{where}: expected int:LOW:HIGH or int:LOW:HIGH:STEP")
        low, high = _number(parts[0], int, where), _number(parts[1], int, where)
        step = _number(parts[2], int, where) if len(parts) == 3 else 1
        if low > high or step < 1:
            raise SpaceError(f"{where}: need LOW <= HIGH and STEP >= 1")
        return d.IntDistribution(low, high, step=step)
    if kind == "categorical":
        choices = [_category(c.strip()) for c in rest.split(",") if c.strip()]
        if not choices:
            raise SpaceError(f"{where}: categorical needs at least one value")
        return d.CategoricalDistribution(choices)
    raise SpaceError(f"{where}: unknown kind {kind!r} (use float, int or categorical)")


def as_distributions(space: dict[str, Any]) -> dict[str, Any]:
    """A Python ``Sweep``'s space: the CLI's SPEC strings or Optuna distributions, by name."""
    import optuna.distributions as d

    out: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, d.BaseDistribution):
            out[name] = spec
        elif isinstance(spec, str):
            out[name] = parse_spec(name, spec.strip(), where=f"space[{name!r}] = {spec!r}")
        else:
            raise SpaceError(
                f"space[{name!r}] = {spec!r}: expected a SPEC string such as 'float:-1:1', "
                "'int:1:9', 'categorical:a,b' or an optuna.distributions object"
            )
    return out


def parse_space(entries: list[str] | tuple[str, ...]) -> dict[str, Any]:
    space: dict[str, Any] = {}
    for entry in entries:
        name, eq, spec = entry.partition("=")
        if not eq or not name.strip():
            raise SpaceError(f"--space {entry}: expected NAME=SPEC, e.g. lr=float:0.001:0.1:log")
        space[name.strip()] = parse_spec(name.strip(), spec.strip())
    return space


def load_space_file(path: str) -> dict[str, Any]:
    import yaml

    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise SpaceError(f"--space-file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SpaceError(f"--space-file {path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise SpaceError(f"--space-file {path}: expected a mapping of NAME: SPEC")
    return {str(k): parse_spec(str(k), str(v)) for k, v in data.items()}
