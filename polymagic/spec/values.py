"""Polyaxon's value conventions, reproduced: how values become text, and how an operation
document is normalised before it is compiled.

Polyaxon stores documents as JSON (through orjson) before compiling them, and turns numbers,
lists and mappings into text as JSON. The same inputs must give the same text here, so this
module writes floats and dates exactly as that JSON does. Pure.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping
from typing import Any

from polymagic.limits import DOCUMENT_MAX_DEPTH, limit_text

__all__ = ["DocumentValueError", "json_text", "normalise_document", "to_text"]

_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


# What ``json.dumps(text, ensure_ascii=False)`` returns for a str, without its per-call setup.
_json_string = json.encoder.encode_basestring


def _float_text(value: float) -> str:
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, exponent_text = text.split("e")
    exponent = int(exponent_text)
    if exponent == -5:
        # JSON writes 1e-05 as 0.00001 (Python's repr switches to exponents one step earlier).
        sign = "-" if mantissa.startswith("-") else ""
        return f"{sign}0.0000{mantissa.lstrip('-').replace('.', '')}"
    return f"{mantissa}e{'+' if exponent > 0 else '-'}{abs(exponent)}"


def json_text(value: Any) -> str:
    """Compact JSON as Polyaxon writes it (``true``, ``1e-7``, ``[1,2]``, UTF-8 kept)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "null" if not math.isfinite(value) else _float_text(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return (
            "{" + ",".join(f"{_json_string(str(k))}:{json_text(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, (list, tuple, set)):
        items = sorted(value, key=str) if isinstance(value, set) else value
        return "[" + ",".join(json_text(v) for v in items) + "]"
    if value is None:
        return "null"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return json.dumps(_iso(value))
    return _json_string(str(value))


def to_text(value: Any) -> Any:
    """A value as Polyaxon shows it in text: JSON for numbers and containers, None kept."""
    if value is None:
        return None
    if isinstance(value, (int, float, Mapping, list, tuple, set)):
        return json_text(value)
    return str(value)


def _iso(value: datetime.date) -> str:
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
        return moment.isoformat()
    return value.isoformat()


class DocumentValueError(ValueError):
    """Raised by ``normalise_document`` for a value no JSON document can hold; ``where`` is its
    location (keys and indexes) so the caller can name the line."""

    def __init__(self, message: str, where: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.message = message
        self.where = where


_KEY_TYPES = (str, int, float, bool, type(None))


def normalise_document(
    value: Any, where: tuple[str | int, ...] = (), _active: frozenset[int] = frozenset()
) -> Any:
    """The document as Polyaxon has it after storing it as JSON: dates as ISO text (naive
    times as UTC), non-finite floats as null. Refused: integers beyond 64 bits, values JSON
    cannot hold (binary, sets, objects), self-referencing anchors and absurd nesting."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            digits = str(value) if len(str(value)) <= 30 else f"{str(value)[:27]}..."
            raise DocumentValueError(
                f"the number {digits} is out of range: Polyaxon documents hold 64-bit integers (quote it to make it text)",
                where,
            )
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime.date, datetime.datetime)):
        return _iso(value)
    if not isinstance(value, (Mapping, list, tuple)):
        raise DocumentValueError(
            f"a {type(value).__name__} value cannot be part of an operation", where
        )
    if id(value) in _active:
        raise DocumentValueError(
            "a YAML anchor refers to itself; Polyaxon documents must be trees", where
        )
    if len(where) > DOCUMENT_MAX_DEPTH:
        raise DocumentValueError(
            f"the document is nested more than {DOCUMENT_MAX_DEPTH} levels deep"
            f" ({limit_text('DOCUMENT_MAX_DEPTH')})",
            where,
        )
    active = _active | {id(value)}
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, _KEY_TYPES):
                raise DocumentValueError(f"a {type(key).__name__} cannot be a key", where)
            out[key] = normalise_document(item, (*where, str(key)), active)
        return out
    return [normalise_document(item, (*where, index), active) for index, item in enumerate(value)]
