"""Where each setting's value comes from, for both front ends alike.

The settings themselves are declared in ``polymagic.setting_schema``. Their values are read from
these sources, each overriding the ones before it:

1. the built-in default;
2. the project: ``[tool.polymagic]`` in the nearest ``pyproject.toml`` walking up from the
   working folder. A setting that steers credentials (which executor image or which catalog, and
   so which Secret, a build uses) is taken from it only when the user has trusted that file
   (``polymagic trust``); otherwise it is ignored with a warning naming the file and the setting;
3. the user's own settings file, ``$XDG_CONFIG_HOME/polymagic/settings.toml``
   (default ``~/.config/polymagic/``), with the same keys;
4. ``POLYMAGIC_<NAME>`` environment variables;
5. the front end: ``%config PolyBuildMagics.<name>`` in a notebook, then an option on the
   command line or on the magic's line.

Every value carries its origin, so a view can name where each non-default setting came from.
Reads files with bounded sizes; writes only the user's trust list.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from polymagic.errors import SpecError
from polymagic.setting_schema import SETTINGS, VIEWS, Kind, Setting, setting

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover  (Python 3.10)
    import tomli as tomllib

__all__ = [
    "SettingValue",
    "Settings",
    "Source",
    "convert",
    "defaults",
    "read_settings",
    "trust_project_file",
    "trusted_files_path",
    "user_config_dir",
    "user_settings_path",
    "wanted_views",
]

SETTINGS_FILE_MAX_BYTES = 1024 * 1024
"""A pyproject.toml, settings file or trust list larger than this is refused, not read."""


class Source(Enum):
    """Where a value came from, weakest first."""

    DEFAULT = "built-in default"
    PROJECT = "project file"
    USER_FILE = "user settings file"
    ENVIRONMENT = "environment"
    FRONT_END = "front end"
    KUBECONFIG = "cluster configuration"


@dataclass(frozen=True)
class SettingValue:
    """A setting's value and where it came from."""

    value: Any
    source: Source
    origin: str
    """Where, in words: ``$POLYMAGIC_NAMESPACE``, ``/repo/pyproject.toml [tool.polymagic]``..."""


def user_config_dir() -> Path:
    """polymagic's folder in the user's config home."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "polymagic"


def user_settings_path() -> Path:
    """The user's own settings file."""
    return user_config_dir() / "settings.toml"


def trusted_files_path() -> Path:
    """Where the project files the user trusted are recorded (path and content hash)."""
    return user_config_dir() / "trusted.json"


def convert(item: Setting, value: Any, origin: str) -> Any:
    """``value`` as ``item``'s type, or a ``SpecError`` naming where it came from."""
    expected = item.kind.value
    try:
        if item.kind is Kind.FLAG:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if item.kind is Kind.SECONDS:
            if isinstance(value, bool):
                raise ValueError(value)
            number = float(value)
            if not number > 0 or number == float("inf"):
                raise ValueError(value)
            return number
        if not isinstance(value, str) or not value.strip() or not value.isprintable():
            raise ValueError(value)
        if item.kind is Kind.VIEWS:
            return ",".join(wanted_views(value)) or "none"
        return value
    except (TypeError, ValueError, SpecError) as exc:
        shown = repr(value) if isinstance(value, str) else str(value)
        detail = f" ({exc})" if isinstance(exc, SpecError) else ""
        raise SpecError(
            f"setting `{item.name}` from {origin} is {shown[:80]}: expected {expected}{detail}"
        ) from None


def wanted_views(show: str) -> list[str]:
    """The views named in ``show`` (comma-separated; ``none`` for none), checked."""
    names = [v.strip() for v in show.split(",") if v.strip() and v.strip() != "none"]
    unknown = [v for v in names if v not in VIEWS]
    if unknown:
        raise SpecError(f"unknown view `{unknown[0]}` (choose from {', '.join(VIEWS)} or none)")
    return names


@dataclass(frozen=True)
class Settings:
    """Every setting's value with its origin, and what reading them had to say."""

    values: Mapping[str, SettingValue]
    warnings: tuple[str, ...] = ()
    project_file: Path | None = None

    def __getitem__(self, name: str) -> Any:
        return self.values[name].value

    def origin(self, name: str) -> str:
        return self.values[name].origin

    def source(self, name: str) -> Source:
        return self.values[name].source

    def given(self, name: str, value: Any, source: Source, origin: str) -> Settings:
        """These settings with ``name`` set to ``value`` (already converted) from ``origin``."""
        setting(name)  # a KeyError for a name that is not a setting
        changed = {**self.values, name: SettingValue(value, source, origin)}
        return replace(self, values=changed)

    def non_default(self) -> Iterator[tuple[str, SettingValue]]:
        """The settings not at their built-in default, in the schema's order."""
        for item in SETTINGS:
            found = self.values[item.name]
            if found.source is not Source.DEFAULT:
                yield item.name, found


def defaults() -> Settings:
    """Every setting at its built-in default."""
    return Settings(
        {s.name: SettingValue(s.default, Source.DEFAULT, Source.DEFAULT.value) for s in SETTINGS}
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            data = stream.read(SETTINGS_FILE_MAX_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > SETTINGS_FILE_MAX_BYTES:
        raise SpecError(
            f"cannot read {path}: larger than {SETTINGS_FILE_MAX_BYTES:,} bytes; polymagic reads"
            " settings files up to that size"
        )
    try:
        parsed: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
        return parsed
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"cannot read {path}: {exc}") from exc


def _nearest_pyproject(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _table(data: Mapping[str, Any], where: str) -> dict[str, Setting]:
    """The settings a ``[tool.polymagic]``-shaped table names, checked against the schema."""
    known = ", ".join(s.name for s in SETTINGS)
    found = {}
    for key in data:
        name = str(key).replace("-", "_")
        try:
            found[str(key)] = setting(name)
        except KeyError:
            raise SpecError(f"{where} has no setting `{str(key)[:80]}` (known: {known})") from None
    return found


def _file_hash(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.sha256(stream.read(SETTINGS_FILE_MAX_BYTES + 1)).hexdigest()


def _trusted(path: Path) -> bool:
    """Whether the user trusted ``path`` with its current content."""
    record = trusted_files_path()
    if not record.is_file():
        return False
    try:
        with record.open("rb") as stream:
            data = json.loads(stream.read(SETTINGS_FILE_MAX_BYTES))
        entries = data.get("trusted", []) if isinstance(data, dict) else []
        digest = _file_hash(path)
    except (OSError, ValueError):
        return False
    return any(
        isinstance(e, dict) and e.get("path") == str(path) and e.get("sha256") == digest
        for e in entries
    )


def trust_project_file(path: Path) -> tuple[Path, str]:
    """Record ``path`` (a pyproject.toml) as trusted with its current content; returns the
    resolved path and its hash. A changed file needs trusting again."""
    path = path.resolve()
    if path.is_dir():
        path = path / "pyproject.toml"
    if not path.is_file():
        raise SpecError(f"{path} is not a file: give the project's pyproject.toml or its folder")
    _read_toml(path)  # a file that cannot be read as settings is not worth trusting
    digest = _file_hash(path)
    record = trusted_files_path()
    entries: list[dict[str, str]] = []
    if record.is_file():
        try:
            data = json.loads(record.read_bytes()[:SETTINGS_FILE_MAX_BYTES])
            entries = [e for e in data.get("trusted", []) if isinstance(e, dict)]
        except (OSError, ValueError, AttributeError):
            entries = []
    entries = [e for e in entries if e.get("path") != str(path)]
    entries.append({"path": str(path), "sha256": digest})
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"trusted": entries}, indent=2) + "\n", encoding="utf-8")
    return path, digest


@dataclass
class _Reader:
    settings: Settings = field(default_factory=defaults)
    warnings: list[str] = field(default_factory=list)

    def project(self, start: Path) -> None:
        pyproject = _nearest_pyproject(start)
        if pyproject is None:
            return
        data = _read_toml(pyproject)
        table = data.get("tool", {}).get("polymagic", {})
        if not isinstance(table, dict) or not table:
            return
        where = f"{pyproject} [tool.polymagic]"
        trusted: bool | None = None
        for key, item in _table(table, where).items():
            if item.steers_credentials:
                if trusted is None:
                    trusted = _trusted(pyproject)
                if not trusted:
                    self.warnings.append(
                        f"{pyproject} sets `{item.name}`, which decides which image or Secret a"
                        " build uses; ignored because you have not trusted this file (run"
                        f" `polymagic trust {pyproject.parent}` if you want it)"
                    )
                    continue
            value = convert(item, table[key], where)
            self.settings = self.settings.given(item.name, value, Source.PROJECT, where)
        self.settings = replace(self.settings, project_file=pyproject)

    def user_file(self, path: Path) -> None:
        if not path.is_file():
            return
        data = _read_toml(path)
        where = str(path)
        for key, item in _table(data, where).items():
            value = convert(item, data[key], where)
            self.settings = self.settings.given(item.name, value, Source.USER_FILE, where)

    def environment(self, environ: Mapping[str, str]) -> None:
        for item in SETTINGS:
            text = environ.get(item.variable)
            if text:
                where = f"${item.variable}"
                value = convert(item, text, where)
                self.settings = self.settings.given(item.name, value, Source.ENVIRONMENT, where)


def read_settings(start: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Every setting from the sources in this module's docstring (up to the environment)."""
    reader = _Reader()
    reader.project((start or Path.cwd()).resolve())
    reader.user_file(user_settings_path())
    reader.environment(os.environ if environ is None else environ)
    return replace(reader.settings, warnings=tuple(reader.warnings))
