"""Where the notebook's default settings come from: ``[tool.polymagic]`` in the nearest
pyproject.toml, then ``POLYMAGIC_*`` environment variables (which win).

The magics class declares the settings as traitlets (so ``%config`` works); this module only
finds the defaults, and reports a bad value as one clear error naming where it came from.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from polymagic.errors import SpecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover  (Python 3.10)
    import tomli as tomllib

__all__ = ["ENV_PREFIX", "SETTING_TYPES", "find_defaults"]

ENV_PREFIX = "POLYMAGIC_"
# setting name -> type; the names are also the traitlets of the magics class.
SETTING_TYPES: dict[str, type] = {
    "namespace": str,
    "executor_image": str,
    "connections_file": str,
    "timeout": float,
    "start_timeout": float,
    "stuck_grace": float,
    "log_idle_timeout": float,
    "show": str,
    "keep": bool,
}


def _nearest_pyproject(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _convert(name: str, value: Any, origin: str) -> Any:
    kind = SETTING_TYPES[name]
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind is float:
            number = float(value)
            if number <= 0:
                raise ValueError(value)
            return number
        if not isinstance(value, (str, int, float)):
            raise ValueError(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        expected = {bool: "true or false", float: "a positive number of seconds", str: "text"}[kind]
        raise SpecError(
            f"setting `{name}` from {origin} is `{value}`: expected {expected}"
        ) from exc


def find_defaults(
    start: Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Settings found in pyproject.toml (nearest to ``start``) and the environment."""
    found: dict[str, Any] = {}
    pyproject = _nearest_pyproject((start or Path.cwd()).resolve())
    if pyproject is not None:
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SpecError(f"cannot read {pyproject}: {exc}") from exc
        section = data.get("tool", {}).get("polymagic", {})
        for key, value in section.items():
            name = key.replace("-", "_")
            if name not in SETTING_TYPES:
                known = ", ".join(sorted(SETTING_TYPES))
                raise SpecError(
                    f"{pyproject}: [tool.polymagic] has no setting `{key}` (known: {known})"
                )
            found[name] = _convert(name, value, f"{pyproject} [tool.polymagic]")
    env = os.environ if environ is None else environ
    for name in SETTING_TYPES:
        variable = ENV_PREFIX + name.upper()
        if env.get(variable):
            found[name] = _convert(name, env[variable], f"${variable}")
    return found
