"""Params: ``-P name=value`` parsing, merging into an operation's params, and checking values
against the component's declared inputs and outputs.

Values are converted the way Polyaxon converts them (``"false"`` for a bool, a JSON number
for an int, ``image`` references validated) so templates see the same values. Text that reaches
object names and executor arguments is checked here too, before anything is rendered: no
control characters in any value, and no line breaks in a value that is not free text. Pure.
"""

from __future__ import annotations

import difflib
import functools
import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import StrictStr, TypeAdapter, ValidationError

from polymagic.errors import ParamError, SpecError
from polymagic.spec.documents import Component, IOSpec, Param
from polymagic.spec.models import is_ref, validate_image
from polymagic.spec.values import to_text

__all__ = ["ResolvedParam", "merge_overrides", "parse_overrides", "parse_pairs", "resolve_params"]


@dataclass(frozen=True)
class ResolvedParam:
    """A param after validation: its typed value plus what templates see of it."""

    name: str
    value: Any
    type: str | None
    connection: str | None
    is_flag: bool
    is_list: bool
    requested: bool = True
    to_init: bool = False

    # Cached: templates read these several times, and a value can be a large document.
    @functools.cached_property
    def display(self) -> Any:
        """What ``{{ name }}`` renders: ``--name`` or nothing for a flag, text for a str."""
        if self.is_flag:
            return f"--{self.name}" if self.value else ""
        if self.type == "str":
            if self.is_list:
                return [to_text(item) for item in (self.value or [])]
            return to_text(self.value)
        return self.value

    @functools.cached_property
    def as_str(self) -> str | None:
        shown = self.display
        return None if shown is None else to_text(shown)

    @functools.cached_property
    def as_arg(self) -> str:
        if self.is_flag:
            return f"--{self.name}" if self.value else ""
        return f"--{self.name}={self.as_str}" if self.value is not None else ""

    def init_entry(self) -> dict[str, Any] | None:
        """The init entry Polyaxon prepends for a ``toInit`` param (its connection, or its value
        for initializer types), or None when it cannot make one."""
        if self.connection:
            return {"connection": self.connection}
        if self.type in ("git", "dockerfile", "file", "artifacts") and self.value is not None:
            return {self.type: self.value}
        return None

    def context(self) -> dict[str, Any]:
        """The ``params.<name>`` mapping templates can read."""
        return {
            "connection": self.connection,
            "value": self.display if self.type == "str" else self.value,
            "type": self.type,
            "as_str": self.as_str,
            "as_arg": self.as_arg,
        }


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` → ``{"a": "1", "b": "x=y"}``; a bad or repeated item is an error."""
    parsed: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ParamError(f"Invalid format for -P parameter: '{item}'. Use -P name=value.")
        if name in parsed:
            raise ParamError(f"Repeated parameter: '{name}'")
        parsed[name] = value
    return parsed


def parse_pairs(items: Iterable[str], what: str) -> tuple[tuple[str, str], ...]:
    """``["A=1", "B=x=y"]`` → ``(("A", "1"), ("B", "x=y"))``; ``what`` names them in errors."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SpecError(f"{what} `{item}`: give it as NAME=value")
        pairs.append((key, value))
    return tuple(pairs)


def merge_overrides(
    params: Mapping[str, Param] | None, overrides: Mapping[str, Any]
) -> dict[str, Param]:
    """The operation's params with override values; only ``value`` changes, ``connection`` stays."""
    merged = dict(params or {})
    for name, value in overrides.items():
        current = merged.get(name)
        merged[name] = (
            current.model_copy(update={"value": value}) if current else Param(value=value)
        )
    return merged


_ADAPTED: dict[str, Any] = {
    "int": int,
    "float": float,
    "bool": bool,
    "dict": dict[str, Any],
    "list": list[Any],
    "path": StrictStr,
    "uuid": StrictStr,
}


@functools.cache
def _adapter(kind: str) -> TypeAdapter[Any]:
    # Built on first use: each costs a validator, and most compiles need one or none.
    return TypeAdapter(_ADAPTED[kind])


# Types whose string values Polyaxon first reads as JSON (``"3"`` → 3, ``"[1]"`` → [1]).
_JSON_TYPES = {"int", "float", "dict", "list"}


def _convert(io: IOSpec, value: Any) -> Any:
    kind = io.type or "any"
    if io.is_list:
        items = _load_json(value) if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ValueError("expected a list")
        return [_convert_one(kind, item) for item in items]
    return _convert_one(kind, value)


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"`{text}` is not valid JSON") from exc


def _convert_one(kind: str, value: Any) -> Any:
    if kind in ("any", "Any"):
        return value
    if kind == "str":
        return to_text(value)
    if kind == "image":
        # Polyaxon still reads the legacy object form ``{name: org/image:tag}``.
        return validate_image(value.get("name") if isinstance(value, dict) else value)
    if kind not in _ADAPTED:
        return value  # other Polyaxon types (uri, s3, gcs, ...) are passed through unchanged
    if kind in _JSON_TYPES and isinstance(value, str):
        value = _load_json(value)
    return _adapter(kind).validate_python(value)


def _describe(io: IOSpec) -> str:
    kind = io.type or "any"
    return (
        f"a list of {kind}"
        if io.is_list
        else {"bool": "true or false", "int": "an integer"}.get(kind, f"a value of type `{kind}`")
    )


# Free text: a `str` (or untyped) value may span lines, as a script passed as an argument does.
# Every other kind (an image, a path, a URI, a number...) is one line, as names and flags are.
_MULTILINE_KINDS = {"str", "any", "Any", None}
_LINE_BREAKS = {"\n", "\r", "\v", "\f", "\x85", "\u2028", "\u2029"}


def _bad_character(text: str, multiline: bool) -> tuple[int, str] | None:
    """The position and character of the first one ``text`` must not hold, or None."""
    for position, char in enumerate(text):
        if multiline and char in "\t\n":
            continue
        if char in _LINE_BREAKS or unicodedata.category(char) == "Cc":
            return position, char
    return None


def _check_characters(io: IOSpec, value: Any) -> None:
    """Refuse control characters (and, outside free text, line breaks) in a param's text."""
    texts = value if isinstance(value, list) else [value]
    multiline = io.type in _MULTILINE_KINDS
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            continue
        found = _bad_character(text, multiline)
        if found is None:
            continue
        position, char = found
        what = "a line break" if char in _LINE_BREAKS else "a control character"
        where = f" (item {index})" if isinstance(value, list) else ""
        rule = (
            "text values may hold tabs and newlines but no other control characters"
            if multiline
            else f"a value of type `{io.type}` is one line of printable text"
        )
        raise ParamError(
            f"param `{io.name}`{where} holds {what} (U+{ord(char):04X}) at character"
            f" {position + 1}: {rule}; remove it",
            path=f"params.{io.name}",
        )


def _validated(io: IOSpec, param: Param) -> Any:
    if param.value is None or is_ref(param.value) or param.ref:
        return param.value
    try:
        value = _convert(io, param.value)
    except (ValueError, ValidationError, TypeError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise ParamError(
            f"param `{io.name}` got `{param.value}`: expected {_describe(io)} ({reason})",
            path=f"params.{io.name}",
        ) from exc
    _check_characters(io, value)
    return value


def resolve_params(component: Component, params: Mapping[str, Param]) -> dict[str, ResolvedParam]:
    """Check params against the component's inputs/outputs and type their values.

    Unlike Polyaxon, which keeps an undeclared param as extra context, polymagic treats one as
    an error: in a build it is almost always a typo, and the closest declared name is offered.
    """
    declared = {io.name: io for io in component.io()}
    for name in params:
        if name not in declared and params[name].context_only is not True:
            close = difflib.get_close_matches(name, list(declared), n=1, cutoff=0.6)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            known = ", ".join(f"`{n}`" for n in declared) or "none"
            raise ParamError(
                f"unknown param `{name}`{hint} (the component `{component.name}` declares: {known})",
                path=f"params.{name}",
            )
    resolved: dict[str, ResolvedParam] = {}
    outputs = {io.name for io in component.outputs or []}
    for io in component.io():
        param = params.get(io.name)
        if param is None and not io.is_optional and io.name not in outputs:
            raise ParamError(
                f"param `{io.name}` is required by the component `{component.name}`: set it under"
                f" `params:` or pass -P {io.name}=...",
                path=f"params.{io.name}",
            )
        if param is not None and param.value is None and not io.is_optional and not param.ref:
            raise ParamError(
                f"param `{io.name}` has no value: give it one under `params:` or with -P {io.name}=...",
                path=f"params.{io.name}",
            )
        if param is None or param.value is None:
            # No value given: the input's default applies (the param's connection still counts).
            value = io.value
            connection = (
                param.connection if param is not None and param.connection else io.connection
            )
        else:
            value, connection = _validated(io, param), param.connection
        resolved[io.name] = ResolvedParam(
            name=io.name,
            value=value,
            type=io.type,
            connection=connection,
            is_flag=bool(io.is_flag),
            is_list=bool(io.is_list),
            to_init=bool(
                param.to_init if param is not None and param.to_init is not None else io.to_init
            ),
        )
    for name, param in params.items():
        if name not in resolved:
            resolved[name] = ResolvedParam(name, param.value, None, param.connection, False, False)
    return resolved
