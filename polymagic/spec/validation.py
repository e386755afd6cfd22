"""From a pydantic validation error to the one ``SpecError`` a user reads: the line (from the
``LineMap``), the dotted field path as Polyaxon spells it (camelCase aliases, list indexes), and,
for a mistyped key, the closest valid one. ``validate_model`` validates data against a model
this way.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union

from pydantic import BaseModel, ValidationError

from polymagic.errors import SpecError
from polymagic.spec.yaml_reader import LineMap, Path_, format_path

__all__ = ["problem_path", "spec_error", "validate_model"]

M = TypeVar("M", bound=BaseModel)


# -- validation errors ---------------------------------------------------------------------


def _leaves(tp: Any) -> list[Any]:
    """The concrete types inside Annotated / Union / Optional wrappers."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _leaves(typing.get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        return [leaf for arg in typing.get_args(tp) for leaf in _leaves(arg)]
    return [tp]


def _field_by_key(model: type[BaseModel], key: str) -> Any | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def _walk(model: type[BaseModel], loc: tuple[str | int, ...]) -> tuple[Path_, list[Any]]:
    """Follow a pydantic error location through the model types.

    Returns the location as the user wrote it (union branch labels dropped) and the types
    found at its end.
    """
    clean: list[str | int] = []
    current: list[Any] = [model]
    for part in loc:
        if isinstance(part, str) and part.startswith("<") and part.endswith(">"):
            continue  # a branch tag of one of our discriminated unions
        nxt: list[Any] = []
        for leaf in current:
            if isinstance(part, str) and isinstance(leaf, type) and issubclass(leaf, BaseModel):
                found = _field_by_key(leaf, part)
                if found is not None:
                    nxt.extend(_leaves(found))
            elif typing.get_origin(leaf) is dict and isinstance(part, str):
                nxt.extend(_leaves(typing.get_args(leaf)[1]))
            elif typing.get_origin(leaf) in (list, tuple) and isinstance(part, int):
                args = typing.get_args(leaf)
                nxt.extend(_leaves(args[0] if args else Any))
        if nxt:
            clean.append(part)
            current = nxt
        elif isinstance(part, int) or not current:
            clean.append(part)
            current = []
        # else: a label pydantic gives a union branch ("int", "list[str]", ...): not in the document
    return tuple(clean), current


def _message(error: Any, model: type[BaseModel], path: Path_) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(path[-1]) if path else "?"
        _, parents = _walk(model, path[:-1])
        choices = sorted(
            {
                info.alias or key
                for leaf in parents
                if isinstance(leaf, type) and issubclass(leaf, BaseModel)
                for key, info in leaf.model_fields.items()
            }
        )
        close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
        if close:
            return f"unknown field `{name}`; did you mean `{close[0]}`?"
        listed = ", ".join(choices) if choices else "none"
        return f"unknown field `{name}`; valid fields here: {listed}"
    if kind == "missing":
        return "field required"
    if kind == "invalid_key":
        return f"`{error.get('input')}` cannot be a key here: keys must be text (quote it)"
    text = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if kind == "literal_error" and path and path[-1] == "kind":
        text = f"{text} (got `{error.get('input')}`)"
    return text[:1].lower() + text[1:]


def problem_path(model: type[BaseModel], error: Any) -> Path_:
    """Where one pydantic error is, as the document has it (union branch labels dropped)."""
    loc = tuple(error["loc"])
    if error["type"] in ("extra_forbidden", "invalid_key") and loc:
        # The unknown key is not a field, so the walk would drop it: keep it by hand.
        return (*_walk(model, loc[:-1])[0], loc[-1])
    return _walk(model, loc)[0]


def spec_error(
    exc: ValidationError, model: type[BaseModel], lines: LineMap, prefix: Path_ = ()
) -> SpecError:
    """One SpecError for a pydantic ValidationError: first problem, its line and field path."""
    seen: dict[Path_, str] = {}
    kinds: dict[Path_, str] = {}
    for error in exc.errors():
        path = problem_path(model, error)
        if path not in seen:
            seen[path] = _message(error, model, path)
            kinds[path] = error["type"]
    path = _typo_of_missing(kinds) or next(iter(seen))
    message = seen[path]
    if len(seen) > 1:
        message += f" (and {len(seen) - 1} more problem{'s' if len(seen) > 2 else ''})"
    full = (*prefix, *path)
    return SpecError(
        message, path=format_path(full) or None, line=lines.line_of(path), source=lines.source
    )


def _typo_of_missing(kinds: Mapping[Path_, str]) -> Path_ | None:
    """An unknown key spelled like a required field missing beside it (``imag`` for ``image``):
    the problem to report first, since writing it right fixes both."""
    missing = [path for path, kind in kinds.items() if kind == "missing" and path]
    for path, kind in kinds.items():
        if kind != "extra_forbidden" or not path:
            continue
        for wanted in missing:
            if wanted[:-1] == path[:-1] and difflib.get_close_matches(
                str(path[-1]), [str(wanted[-1])], n=1, cutoff=0.6
            ):
                return path
    return None


def validate_model(
    model: type[M], data: Any, lines: LineMap | None = None, prefix: Path_ = ()
) -> M:
    """Validate ``data`` as ``model``; any problem becomes one SpecError."""
    lines = lines or LineMap()
    if not isinstance(data, Mapping):
        raise SpecError(
            f"expected {_expected(model)}, got {_shown(data, prefix)}",
            path=format_path(prefix) or None,
            line=lines.line_of(()),
            source=lines.source,
        )
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise spec_error(exc, model, lines, prefix) from exc
    except (RecursionError, TypeError, ValueError) as exc:
        # Self-referencing YAML anchors and other inputs pydantic cannot even walk.
        raise SpecError(f"cannot validate this document: {exc}", source=lines.source) from exc


_EXPECTED = {
    "Operation": "an operation (a mapping with `version`, `kind: operation`, `hubRef`,"
    " `pathRef` or `component`, `params`, `runPatch`, …)",
    "Component": "a component (a mapping with `version`, `kind: component`, `inputs`,"
    " `outputs`, `run`, …)",
    "DockerfileInit": "a dockerfile init (a mapping with `image`, `run`, `env`, `langEnv`, …)",
    "Connection": "a connection (a mapping with `name`, `kind`, `schema`, `secret`, …)",
    "JobRun": "a job run (a mapping with `kind: job`, `container`, `init`, `connections`, …)",
    "Termination": "a termination (a mapping with `maxRetries`, `ttl`, `timeout`)",
}


def _expected(model: type[BaseModel]) -> str:
    known = _EXPECTED.get(model.__name__)
    if known is not None:
        return known
    fields = ", ".join(f"`{info.alias or name}`" for name, info in model.model_fields.items())
    return f"a mapping (with {fields})"


def _shown(data: Any, prefix: Path_) -> str:
    if data is None:
        return "nothing" if prefix else "an empty document"
    if isinstance(data, bool):
        return f"`{data}`"
    if isinstance(data, (int, float)):
        return f"the number `{data}`"
    if isinstance(data, str):
        shown = data if len(data) <= 60 else data[:57] + "..."
        return f"the text `{shown}`"
    if isinstance(data, (list, tuple)):
        return f"a list of {len(data)} item{'' if len(data) == 1 else 's'}"
    return f"a {type(data).__name__}"
