"""Loading Polyaxon documents: YAML text, files or dicts become validated models
(``load_operation``, ``load_component``, ``load_connections``, ``load_dockerfile_init``).

Reading the YAML within its bounds is ``spec.yaml_reader``'s; turning a validation error into one
``SpecError`` with its line and field is ``spec.validation``'s. This module checks each
document's ``kind`` and puts the two together. It never writes anything.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from polymagic.errors import (
    ConnectionsError,
    SpecError,
    UnsupportedError,
)
from polymagic.spec.connections import Connection, ConnectionCatalog
from polymagic.spec.documents import RUN_SHORTCUT_FIELDS, Component, Operation
from polymagic.spec.models import DockerfileInit
from polymagic.spec.validation import validate_model
from polymagic.spec.values import DocumentValueError, normalise_document
from polymagic.spec.yaml_reader import LineMap, format_path, parse_yaml, read_spec_file

__all__ = [
    "Loaded",
    "load_component",
    "load_connections",
    "load_dockerfile_init",
    "load_operation",
]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Loaded(typing.Generic[M]):
    """A validated model with the line map of the text it came from."""

    model: M
    lines: LineMap
    warnings: tuple[str, ...] = ()
    base_dir: Path | None = None
    params_as_written: Mapping[str, Any] | None = None
    """An operation's params before JSON normalisation: Polyaxon type-checks these."""


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
        data, lines = parse_yaml(read_spec_file(path), source=str(path))
        return data, lines, path.resolve().parent
    if not isinstance(source, str):
        raise SpecError(
            f"expected {what} as YAML text, a file path or a dict, got {type(source).__name__}"
        )
    data, lines = parse_yaml(source)
    return data, lines, None


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
