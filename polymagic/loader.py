"""Reading Polyaxon documents: YAML text, files or dicts become validated models.

This module owns the translation of YAML syntax errors and pydantic validation errors into a
single ``SpecError`` that names the line, the dotted field path and, for a mistyped key, the
closest valid one. It reads files only when given a path; it never writes anything.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml
from pydantic import BaseModel, ValidationError

from polymagic.errors import ConnectionsError, SpecError, UnsupportedError, YamlSyntaxError
from polymagic.models import (
    RUN_SHORTCUT_FIELDS,
    Component,
    Connection,
    ConnectionCatalog,
    DockerfileInit,
    Operation,
)
from polymagic.values import DocumentValueError, normalise_document

__all__ = [
    "LineMap",
    "Loaded",
    "load_component",
    "load_connections",
    "load_dockerfile_init",
    "load_operation",
    "parse_yaml",
    "validate_model",
]

Path_ = tuple[Any, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class LineMap:
    """Where each key and list item of a YAML document starts (1-based lines)."""

    lines: dict[Path_, int] = field(default_factory=dict)
    source: str | None = None

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path``, or of its closest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def nested(self, prefix: Path_) -> LineMap:
        """The part of this map under ``prefix``, re-rooted there."""
        size = len(prefix)
        return LineMap(
            {p[size:]: n for p, n in self.lines.items() if p[:size] == prefix}, self.source
        )


@dataclass(frozen=True)
class Loaded(typing.Generic[M]):
    """A validated model with the line map of the text it came from."""

    model: M
    lines: LineMap
    warnings: tuple[str, ...] = ()
    base_dir: Path | None = None
    params_as_written: Mapping[str, Any] | None = None
    """An operation's params before JSON normalisation: Polyaxon type-checks these."""


# -- YAML ---------------------------------------------------------------------------------


# libyaml's loader when PyYAML was built with it (same results, several times faster).
_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# libyaml recurses in C on nested flow collections and can crash the process on absurd
# nesting; such texts go to the pure-Python loader, which fails cleanly instead.
_MAX_FLOW_OPENERS = 500


def _loader_for(text: str) -> type[yaml.SafeLoader]:
    if text.count("[") + text.count("{") > _MAX_FLOW_OPENERS:
        return yaml.SafeLoader
    return _FAST_LOADER


def _line_in(text: str, zero_based: int) -> int:
    # libyaml reports the end of the input one line past the last one; keep it on the text.
    last = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
    return min(zero_based + 1, last)


def parse_yaml(text: str, source: str | None = None) -> tuple[Any, LineMap]:
    """Parse one YAML document into plain data plus where each part of it starts."""
    # Polyaxon reads YAML with PyYAML's safe loader, so scalars (``yes``, ``1.0``, dates) resolve alike.
    loader = _loader_for(text)(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        lines: dict[Path_, int] = {}
        if node is not None:
            _index_lines(node, loader, text, lines)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = _line_in(text, mark.line) if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlSyntaxError(f"YAML syntax error: {problem}", line=line, source=source) from exc
    except yaml.reader.ReaderError as exc:
        line = _line_in(text, text.count("\n", 0, exc.position))
        shown = f" (character #x{exc.character:04x})" if isinstance(exc.character, int) else ""
        raise YamlSyntaxError(
            f"YAML syntax error: {exc.reason}{shown}", line=line, source=source
        ) from exc
    except RecursionError as exc:
        raise YamlSyntaxError(
            "YAML syntax error: the document is nested too deeply", source=source
        ) from exc
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        raise YamlSyntaxError(f"YAML syntax error: {exc}", source=source) from exc
    finally:
        loader.dispose()
    return data, LineMap(lines, source)


def _key_of(node: yaml.ScalarNode, loader: yaml.SafeLoader) -> Any:
    # Keys as the document's data has them (``1:`` is the int 1), so error paths line up.
    try:
        key = loader.construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError):
        return node.value
    return key if isinstance(key, (str, int, float, bool)) or key is None else node.value


def _index_lines(
    root: yaml.Node, loader: yaml.SafeLoader, text: str, out: dict[Path_, int]
) -> None:
    """Record the line of every key and item; iterative, and each node once (aliases repeat)."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Path_]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        out.setdefault(path, _line_in(text, node.start_mark.line))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key = _key_of(key_node, loader)
                    out[path + (key,)] = _line_in(text, key_node.start_mark.line)  # noqa: RUF005
                    if key is None:  # pydantic names a null key "None"
                        out[path + ("None",)] = out[path + (key,)]  # noqa: RUF005
                    stack.append((value_node, path + (key,)))  # noqa: RUF005
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, path + (index,)) for index, item in enumerate(node.value))  # noqa: RUF005


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecError(f"file not found: {path}") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SpecError(f"cannot read {path}: {exc}") from exc


def _source_data(
    source: str | Path | Mapping[str, Any], what: str
) -> tuple[Any, LineMap, Path | None]:
    """Turn text, a path or a dict into data, its line map and the directory it came from."""
    if isinstance(source, Mapping):
        return dict(source), LineMap(), None
    if isinstance(source, Path) or (
        isinstance(source, str)
        and "\n" not in source
        and source.endswith((".yaml", ".yml", ".json"))
    ):
        path = Path(source)
        data, lines = parse_yaml(_read_text(path), source=str(path))
        return data, lines, path.resolve().parent
    if not isinstance(source, str):
        raise SpecError(
            f"expected {what} as YAML text, a file path or a dict, got {type(source).__name__}"
        )
    data, lines = parse_yaml(source)
    return data, lines, None


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


def format_path(path: Path_) -> str:
    """``('runPatch', 'init', 0, 'dockerfile')`` → ``runPatch.init[0].dockerfile``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


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


def spec_error(
    exc: ValidationError, model: type[BaseModel], lines: LineMap, prefix: Path_ = ()
) -> SpecError:
    """One SpecError for a pydantic ValidationError: first problem, its line and field path."""
    seen: dict[Path_, str] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] in ("extra_forbidden", "invalid_key") and loc:
            # The unknown key is not a field, so the walk would drop it: keep it by hand.
            path = (*_walk(model, loc[:-1])[0], loc[-1])
        else:
            path, _ = _walk(model, loc)
        if path not in seen:
            seen[path] = _message(error, model, path)
    path, message = next(iter(seen.items()))
    if len(seen) > 1:
        message += f" (and {len(seen) - 1} more problem{'s' if len(seen) > 2 else ''})"
    full = (*prefix, *path)
    return SpecError(
        message, path=format_path(full) or None, line=lines.line_of(path), source=lines.source
    )


def validate_model(
    model: type[M], data: Any, lines: LineMap | None = None, prefix: Path_ = ()
) -> M:
    """Validate ``data`` as ``model``; any problem becomes one SpecError."""
    lines = lines or LineMap()
    if not isinstance(data, Mapping):
        shown = "an empty document" if data is None else f"a {type(data).__name__}"
        raise SpecError(
            f"expected a mapping of fields, got {shown}",
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


# -- public loaders ------------------------------------------------------------------------


def _check_kind(data: Any, expected: str, lines: LineMap) -> None:
    if isinstance(data, Mapping) and data.get("kind") != expected:
        got = data.get("kind")
        if got is None:
            message = f"field required: this document needs `kind: {expected}`"
        else:
            message = f"expected `kind: {expected}`, got `{got}`"
        raise SpecError(message, path="kind", line=lines.line_of(("kind",)), source=lines.source)


def load_operation(source: str | Path | Mapping[str, Any]) -> Loaded[Operation]:
    """Load and validate an operation from YAML text, a ``.yaml``/``.yml`` path or a dict."""
    data, lines, base = _source_data(source, "an operation")
    if isinstance(data, Mapping):
        _check_kind(data, "operation", lines)
        shortcuts = [key for key in RUN_SHORTCUT_FIELDS if key in data]
        if shortcuts:
            key = shortcuts[0]
            raise UnsupportedError(
                f"`{key}` at the top of an operation is not supported: put it under `runPatch`",
                path=key,
                line=lines.line_of((key,)),
                source=lines.source,
            )
    try:
        # First, so that self-referencing anchors and absurd values fail with a line number.
        stored = normalise_document(data)
    except DocumentValueError as exc:
        raise SpecError(
            exc.message,
            path=format_path(exc.where) or None,
            line=lines.line_of(exc.where),
            source=lines.source,
        ) from exc
    operation = validate_model(Operation, data, lines)
    # Polyaxon checks params as written, then compiles the document as it stores it (JSON):
    # dates become text, non-finite floats null; over-large integers are refused either way.
    as_written = operation
    operation = validate_model(Operation, stored, lines)
    warnings = []
    ignored = operation.server_side_fields()
    if ignored:
        warnings.append(
            "ignored (they need a Polyaxon server): " + ", ".join(f"`{name}`" for name in ignored)
        )
    if operation.version is not None and operation.version >= 2:
        warnings.append("`version` is no longer needed; polymagic reads it as 1.1")
    if operation.url_ref is not None or operation.dag_ref is not None:
        key = "urlRef" if operation.url_ref is not None else "dagRef"
        raise UnsupportedError(
            f"`{key}` is not supported: use `hubRef`, `pathRef` or an inline `component`",
            path=key,
            line=lines.line_of((key,)),
            source=lines.source,
        )
    return Loaded(operation, lines, tuple(warnings), base, as_written.params)


def load_component(source: str | Path | Mapping[str, Any]) -> Loaded[Component]:
    """Load and validate a component from YAML text, a path or a dict."""
    data, lines, base = _source_data(source, "a component")
    if isinstance(data, Mapping):
        _check_kind(data, "component", lines)
    component = validate_model(Component, data, lines)
    ignored = component.server_side_fields()
    warnings = (
        ("ignored in the component (they need a Polyaxon server): " + ", ".join(ignored),)
        if ignored
        else ()
    )
    return Loaded(component, lines, warnings, base)


def load_dockerfile_init(data: Mapping[str, Any] | str) -> DockerfileInit:
    """Validate the body of a ``dockerfile:`` init entry (a dict, or YAML/JSON text)."""
    lines = LineMap()
    if isinstance(data, str):
        data, lines = parse_yaml(data)
    return validate_model(DockerfileInit, data, lines, prefix=("dockerfile",))


def load_connections(source: str | Path | list[Any] | Mapping[str, Any]) -> ConnectionCatalog:
    """Load a connections catalog: a list of connections, or a mapping with ``connections:``."""
    try:
        return _load_connections(source)
    except ConnectionsError:
        raise
    except SpecError as exc:
        raise ConnectionsError(
            exc.message, path=exc.path, line=exc.line, source=exc.source
        ) from exc


def _load_connections(source: str | Path | list[Any] | Mapping[str, Any]) -> ConnectionCatalog:
    if isinstance(source, list):
        data: Any = source
        lines = LineMap()
    else:
        data, lines, _ = _source_data(source, "a connections catalog")
    if isinstance(data, Mapping) and set(data) == {"connections"}:
        data = data["connections"]
        lines = lines.nested(("connections",))
    if data is None:
        data = []
    if not isinstance(data, list):
        raise ConnectionsError(
            "a connections catalog is a list of connections (name, kind, schema, secret, ...)",
            line=lines.line_of(()),
            source=lines.source,
        )
    for index, item in enumerate(data):
        validate_model(Connection, item, lines.nested((index,)), prefix=(index,))
    return validate_model(ConnectionCatalog, {"connections": data}, lines.nested(()), ())
