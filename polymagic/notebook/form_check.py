"""What polymagic says about the build form's document, by field: the first problem put under
the field it concerns (a ``SpecError``'s dotted path names the field), the warnings, and the
rendered Dockerfile; and the namespace field's own check.

Pure: no widgets. Every rule about what is *valid* comes from ``load_operation``,
``compile_operation`` and ``build_manifests``; this module only routes their messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from polymagic.errors import PolymagicError, SpecError
from polymagic.notebook.form_document import (
    RUN_PATCH,
    dockerfile_body,
    dockerfile_index,
    key_spellings,
    yaml_only_parts,
)
from polymagic.notebook.form_fields import FIELDS
from polymagic.render.compiler import compile_operation
from polymagic.render.dockerfile import render_dockerfile
from polymagic.render.manifests import build_manifests
from polymagic.spec.connections import ConnectionCatalog
from polymagic.spec.loader import load_dockerfile_init, load_operation
from polymagic.spec.models import DockerfileInit
from polymagic.spec.yaml_reader import parse_yaml

__all__ = [
    "GENERAL",
    "YAML",
    "FormCheck",
    "check_document",
    "field_for_path",
    "form_errors",
    "form_notes",
    "namespace_problem",
    "parse_operation_text",
]

GENERAL = "general"
"""Key in ``BuildForm.errors`` for a message that belongs to no field."""
YAML = "yaml"
"""Key in ``BuildForm.errors`` for a YAML view that does not load."""
_NAMESPACE_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class FormCheck:
    """What polymagic says about a document: errors by field, warnings, the Dockerfile."""

    errors: dict[str, str]
    warnings: tuple[str, ...] = ()
    dockerfile: str | None = None


def parse_operation_text(text: str) -> dict[str, Any]:
    """Validate operation YAML with ``load_operation`` and return it as written (a plain dict)."""
    source = text if "\n" in text else text + "\n"  # always text, never a file path
    load_operation(source)
    data, _ = parse_yaml(source)
    return dict(data)


def _segment(text: str) -> str:
    return re.split(r"[.\[]", text, maxsplit=1)[0]


def field_for_path(path: str | None, init_index: int | None) -> str | None:
    """The form field a ``SpecError.path`` is about, or None."""
    if not path:
        return None
    if path.startswith("run.connections"):
        return "connection"  # the kaniko run's connection is the destination's
    if path.startswith("params."):
        rest = path[len("params.") :]
        name = _segment(rest)
        attr = "connection" if rest[len(name) :].startswith(".connection") else "value"
        return next((s.name for s in FIELDS if s.param == (name, attr)), None)
    for root in (*RUN_PATCH, "run"):
        limits = f"{root}.container.resources.limits."
        if path.startswith(limits):
            key = _segment(path[len(limits) :])
            return next((s.name for s in FIELDS if s.attr == "limit" and s.key == key), None)
        prefix = f"{root}.init[{init_index}].dockerfile."
        if init_index is not None and path.startswith(prefix):
            key = _segment(path[len(prefix) :])
            fields = (s for s in FIELDS if s.attr is None)
            return next(
                (s.name for s in fields if key in key_spellings(DockerfileInit, s.key)), None
            )
    return None


def check_document(
    document: Mapping[str, Any],
    connections: ConnectionCatalog | None = None,
    namespace: str | None = None,
) -> FormCheck:
    """Compile ``document`` and put the first problem under the field it concerns.

    The compiled build also goes through ``build_manifests``, which reads the executor options
    (``build_args``, ``target``, ``tags``...) and refuses what it cannot run.
    """
    try:
        build = compile_operation(document, connections=connections, namespace=namespace)
    except PolymagicError as exc:
        return FormCheck(_problem(exc, document), (), _render_alone(document))
    text = build.dockerfiles[0].text if build.dockerfiles else None
    try:
        build_manifests(build, namespace=namespace or "default")
    except PolymagicError as exc:
        return FormCheck(_problem(exc, document), build.warnings, text)
    return FormCheck({}, build.warnings, text)


def _problem(exc: PolymagicError, document: Mapping[str, Any]) -> dict[str, str]:
    """An error as ``{field: message}``; ``GENERAL`` with its path when no field owns it."""
    if isinstance(exc, SpecError):
        field = field_for_path(exc.path, dockerfile_index(document))
        if field:
            return {field: exc.message}
    return {GENERAL: str(exc)}


def _render_alone(document: Mapping[str, Any]) -> str | None:
    """The Dockerfile of the form's init when the rest of the operation has a problem.

    Only without templates: a ``{{ ... }}`` needs the compiled operation to resolve it.
    """
    body = dockerfile_body(document)
    if body is None or _has_template(body):
        return None
    try:
        return render_dockerfile(load_dockerfile_init(dict(body)))
    except SpecError:
        return None


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(_has_template(item) for item in value.values())
    return isinstance(value, list) and any(_has_template(item) for item in value)


def namespace_problem(namespace: str) -> str | None:
    if not namespace or _NAMESPACE_PATTERN.fullmatch(namespace):
        return None
    return "not a valid namespace: lowercase letters, digits and `-`, at most 63 characters"


def form_errors(
    input_errors: Mapping[str, str],
    check: FormCheck,
    namespace: str,
    yaml_error: str | None,
) -> dict[str, str]:
    """Messages by field name (``GENERAL`` and ``YAML`` for the other two places): a field's
    own text that cannot be read comes before what polymagic says about it."""
    errors = dict(input_errors)
    for name, message in check.errors.items():
        errors.setdefault(name, message)
    problem = namespace_problem(namespace)
    if problem:
        errors["namespace"] = problem
    if yaml_error:
        errors[YAML] = yaml_error
    return errors


def form_notes(
    errors: Mapping[str, str],
    note: tuple[str, str] | None,
    check: FormCheck,
    document: Mapping[str, Any],
    hidden: AbstractSet[str],
) -> list[tuple[str, str]]:
    """The form's general messages as ``(level, text)``: the error no field owns, the note of
    the last action, the warnings, and which parts only the YAML can edit."""
    notes = [("error", errors[GENERAL])] if errors.get(GENERAL) else []
    if note is not None:
        notes.append(note)
    notes += [("warning", warning) for warning in check.warnings]
    parts = yaml_only_parts(document, hidden)
    if parts:
        listed = ", ".join(f"`{part}`" for part in parts)
        notes.append(("info", f"Only editable in the YAML (kept as written): {listed}"))
    return notes
