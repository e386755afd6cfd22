"""The build form's fields: how each one's text is read and shown (its codec: ``KEY=value``
lines, ``src dst`` lines, numbers, a checkbox), and which key of the operation it edits (a key of
the first ``dockerfile`` init, a param's value or connection, or a resource limit of the run's
container).

Pure: no widgets. A codec only reads the form's own text (a line without ``=`` is an
``InputError``); what is *valid* is decided by polymagic's loader and compiler
(``form_check``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "FIELDS",
    "SECTIONS",
    "UNSET",
    "Codec",
    "Field",
    "InputError",
    "Unset",
    "WidgetKind",
]


class Unset(enum.Enum):
    """The type of ``UNSET``."""

    UNSET = "unset"


UNSET = Unset.UNSET
"""A field the form leaves empty: its key is removed from the document."""


class InputError(Exception):
    """The text of a field cannot be read (e.g. an env line without ``=``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _one_line(value: Any) -> str | None:
    """A scalar as one line of text, or None when a text box cannot show it."""
    if isinstance(value, str):
        return value if "\n" not in value else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


class _TextCodec:
    """One line of text; empty means unset."""

    blank: str | bool = ""

    def show(self, value: Any) -> str | bool | None:
        return "" if value is None else _one_line(value)

    def read(self, shown: Any, base: Any) -> Any:
        text = str(shown).strip()
        return text if text else UNSET


class _IntCodec(_TextCodec):
    """A whole number, or a ``{{ ... }}`` template; other text is passed on for polymagic to refuse."""

    def show(self, value: Any) -> str | bool | None:
        return None if isinstance(value, (bool, float)) else super().show(value)

    def read(self, shown: Any, base: Any) -> Any:
        text = super().read(shown, base)
        if isinstance(text, str) and re.fullmatch(r"[-+]?\d+", text):
            return int(text)
        return text


class _AmountCodec(_TextCodec):
    """A Kubernetes quantity: a whole number is written as a number (``cpu: 2``, as one writes
    it in YAML), anything else as text (``4Gi``, ``500m``)."""

    def read(self, shown: Any, base: Any) -> Any:
        text = super().read(shown, base)
        # Short: int() of thousands of digits raises, and no amount needs more than 18.
        if isinstance(text, str) and len(text) <= 18 and text.isascii() and text.isdigit():
            return int(text)
        return text


class _CheckCodec:
    """A checkbox: true or false."""

    blank: str | bool = False

    def show(self, value: Any) -> str | bool | None:
        return value if isinstance(value, bool) else None

    def read(self, shown: Any, base: Any) -> Any:
        return bool(shown)


class _LinesCodec(_TextCodec):
    """A list of strings, one per line; blank lines are dropped."""

    def show(self, value: Any) -> str | bool | None:
        if value is None:
            return ""
        if not isinstance(value, list) or not all(_plain_item(item) for item in value):
            return None
        return "\n".join(value)

    def read(self, shown: Any, base: Any) -> Any:
        lines = [line.strip() for line in str(shown).splitlines() if line.strip()]
        return lines if lines else UNSET


def _plain_item(item: Any) -> bool:
    """True for a string that reads back unchanged from a line of its own."""
    return isinstance(item, str) and bool(item) and "\n" not in item and item == item.strip()


class _EnvCodec(_TextCodec):
    """``KEY=value`` lines, as a mapping (or a list of pairs when the document uses one)."""

    def show(self, value: Any) -> str | bool | None:
        if value is None:
            return ""
        pairs = _env_pairs(value)
        lines = [_env_line(key, item) for key, item in pairs or ()]
        if pairs is None or None in lines:
            return None
        return "\n".join(line for line in lines if line is not None)

    def read(self, shown: Any, base: Any) -> Any:
        pairs = [(key, value) for _, key, value in _read_pairs(shown, base, "KEY")]
        if not pairs:
            return UNSET
        keys = [key for key, _ in pairs]
        if isinstance(base, list) or len(set(keys)) < len(keys):
            return [[key, text] for key, text in pairs]
        return dict(pairs)


def _read_pairs(shown: Any, base: Any, name: str) -> list[tuple[int, str, Any]]:
    """The ``(line number, key, value)`` of each ``KEY=value`` line; ``name`` is how KEY is called.

    A value whose text did not change keeps its type in ``base`` (``1`` stays a number).
    """
    known = dict(_env_pairs(base) or [])
    pairs: list[tuple[int, str, Any]] = []
    for number, line in enumerate(str(shown).splitlines(), start=1):
        if not line.strip():
            continue
        key, equals, text = line.partition("=")
        if not equals or not key.strip():
            raise InputError(f"line {number}: write `{name}=value` (got `{line.strip()}`)")
        key, text = key.strip(), text.strip()
        same = key in known and _env_text(known[key]) == text
        pairs.append((number, key, known[key] if same else text))
    return pairs


class _BuildArgsCodec(_TextCodec):
    """``NAME=value`` lines, as the mapping the ``build_args`` param holds."""

    def show(self, value: Any) -> str | bool | None:
        if value is None:
            return ""
        if not isinstance(value, Mapping):
            return None
        lines = [_env_line(key, item) for key, item in value.items()]
        return None if None in lines else "\n".join(line for line in lines if line is not None)

    def read(self, shown: Any, base: Any) -> Any:
        args: dict[str, Any] = {}
        first: dict[str, int] = {}
        for number, key, value in _read_pairs(shown, base, "NAME"):
            if key in first:
                raise InputError(f"line {number}: `{key}` is already set on line {first[key]}")
            first[key] = number
            args[key] = value
        return args if args else UNSET


def _env_pairs(value: Any) -> list[tuple[Any, Any]] | None:
    """The ``(key, value)`` pairs of an env mapping or list of pairs; None for anything else."""
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        return [(pair[0], pair[1]) for pair in value]
    return None


def _env_text(value: Any) -> str | None:
    """An env value as the Dockerfile prints it (``str()``), if a line can hold it exactly."""
    shown = str(value) if isinstance(value, bool) else _one_line(value)
    return shown if shown is not None and shown == shown.strip() else None


def _env_line(key: Any, value: Any) -> str | None:
    shown = _env_text(value)
    if not isinstance(key, str) or not key or "=" in key or key != key.strip() or shown is None:
        return None
    return f"{key}={shown}"


class _CopyCodec(_TextCodec):
    """``src`` or ``src dst`` lines: a string or a two-item list each."""

    def show(self, value: Any) -> str | bool | None:
        if value is None:
            return ""
        if not isinstance(value, list):
            return None
        lines = [_copy_line(entry) for entry in value]
        if any(line is None for line in lines):
            return None
        return "\n".join(line for line in lines if line is not None)

    def read(self, shown: Any, base: Any) -> Any:
        entries: list[Any] = []
        for number, line in enumerate(str(shown).splitlines(), start=1):
            parts = line.split()
            if len(parts) > 2:
                raise InputError(f"line {number}: write `src` or `src dst` (got `{line.strip()}`)")
            if parts:
                entries.append(parts[0] if len(parts) == 1 else parts)
        return entries if entries else UNSET


class _TagsCodec(_LinesCodec):
    """Image references or ``:tag`` suffixes, one per line."""

    def read(self, shown: Any, base: Any) -> Any:
        for number, line in enumerate(str(shown).splitlines(), start=1):
            if len(line.split()) > 1:
                raise InputError(
                    f"line {number}: write one reference or `:tag` per line (got `{line.strip()}`)"
                )
        return super().read(shown, base)


def _copy_line(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry if entry and len(entry.split()) == 1 and entry == entry.strip() else None
    if isinstance(entry, list) and len(entry) == 2 and all(isinstance(p, str) for p in entry):
        return " ".join(entry) if all(_copy_line(part) for part in entry) else None
    return None


Codec = _TextCodec | _CheckCodec


# -- the fields ----------------------------------------------------------------------------------

WidgetKind = Literal["text", "area", "check", "combo"]


@dataclass(frozen=True)
class Field:
    """One form field and the place in the operation document it edits."""

    name: str
    label: str
    codec: Codec
    key: str
    """The key in the dockerfile init (its camelCase alias), or the param's name."""
    attr: Literal["value", "connection", "limit"] | None = None
    """For a param: which part of it the field edits; ``"limit"`` for a resource limit of the
    run's container (``runPatch.container.resources.limits.<key>``); None for a dockerfile key."""
    widget: WidgetKind = "text"
    placeholder: str = ""

    @property
    def param(self) -> tuple[str, str] | None:
        """``(param name, attr)`` for a param field."""
        return None if self.attr is None or self.attr == "limit" else (self.key, self.attr)


_TEXT = _TextCodec()
_LINES = _LinesCodec()
_AMOUNT = _AmountCodec()
_AREA: WidgetKind = "area"
FIELDS: tuple[Field, ...] = (
    Field("image", "Base image", _TEXT, "image", placeholder="python:3.11-slim"),
    Field("run", "Run", _LINES, "run", widget=_AREA, placeholder="one command per line"),
    Field("env", "Env", _EnvCodec(), "env", widget=_AREA, placeholder="KEY=value per line"),
    Field("lang_env", "Lang env", _TEXT, "langEnv", placeholder="en_US.UTF-8"),
    Field("path", "Path", _LINES, "path", widget=_AREA, placeholder="added to PATH, one per line"),
    Field(
        "copy", "Copy", _CopyCodec(), "copy", widget=_AREA, placeholder="src or src dst per line"
    ),
    Field("uid", "UID", _IntCodec(), "uid", placeholder="e.g. 1000"),
    Field("gid", "GID", _IntCodec(), "gid", placeholder="e.g. 1000"),
    Field("username", "Username", _TEXT, "username", placeholder="polyaxon"),
    Field("workdir", "Workdir", _TEXT, "workdir", placeholder="/code"),
    Field("destination", "Destination", _TEXT, "destination", "value", placeholder="org/image"),
    Field("connection", "Connection", _TEXT, "destination", "connection", widget="combo"),
    Field("cache", "Cache", _CheckCodec(), "cache", "value", widget="check"),
    Field("cache_ttl", "Cache TTL", _TEXT, "cache_ttl", "value", placeholder="1h"),
    Field(
        "build_args",
        "Build args",
        _BuildArgsCodec(),
        "build_args",
        "value",
        widget=_AREA,
        placeholder="NAME=value per line",
    ),
    Field("target", "Target stage", _TEXT, "target", "value", placeholder="e.g. runtime"),
    Field(
        "tags",
        "Extra tags",
        _TagsCodec(),
        "tags",
        "value",
        widget=_AREA,
        placeholder="org/image:v2 or :v2, one per line",
    ),
    Field("memory_limit", "Memory limit", _AMOUNT, "memory", "limit", placeholder="e.g. 4Gi"),
    Field("cpu_limit", "CPU limit", _AMOUNT, "cpu", "limit", placeholder="e.g. 2 or 500m"),
)
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Image", ("image", "run", "env", "lang_env", "path", "copy")),
    ("User and workdir", ("uid", "gid", "username", "workdir")),
    ("Push", ("destination", "connection", "cache", "cache_ttl")),
    ("Executor options", ("build_args", "target", "tags")),
    ("Resources", ("memory_limit", "cpu_limit")),
)
