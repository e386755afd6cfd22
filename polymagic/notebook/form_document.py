"""The build form's document: where each field's value lives in the operation (a key of the
first ``dockerfile`` init, a param's value or connection, a resource limit of the run's
container), reading the fields' values out of a document and writing edited values back into a
copy of it, and naming what the form leaves to the YAML.

Pure: dicts in, dicts out, no widgets. The YAML is the document of record: writing changes only
the keys the form edits, so anything it cannot show (a second init, ``runPatch.environment``, a
templated field) is kept as written. The executor options (build args, target stage, extra tags)
are params the component does not declare, so they are written as
``{value: ..., contextOnly: true}``. The resource limits are Polyaxon's own place for them,
``runPatch.container.resources.limits``, so the YAML stays an operation Polyaxon runs as is.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from pydantic import BaseModel, ValidationError

from polymagic.notebook.form_fields import FIELDS, UNSET, Field, InputError
from polymagic.render.build_objects import OPTION_PARAMS
from polymagic.spec.documents import Operation, Param
from polymagic.spec.hub import hub_component
from polymagic.spec.models import Container, DockerfileInit, JobRun
from polymagic.spec.yamltext import dump_yaml

__all__ = [
    "RUN_PATCH",
    "SKELETON",
    "dockerfile_body",
    "dockerfile_index",
    "key_spellings",
    "lookup",
    "merge_form_values",
    "read_form_values",
    "yaml_only_parts",
]

SKELETON: dict[str, Any] = {"version": 1, "kind": "operation", "name": "build", "hubRef": "kaniko"}
"""The smallest operation: what the form edits until a YAML loads."""


def key_spellings(model: type[BaseModel], key: str) -> tuple[str, ...]:
    """Every way a document may spell a field: its alias first, then its Python name."""
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return tuple(dict.fromkeys([info.alias or name, name]))
    return (key,)


RUN_PATCH = key_spellings(Operation, "runPatch")
_CONTEXT_ONLY = key_spellings(Param, "contextOnly")
_CONTEXT_ONLY_PARAMS = frozenset(OPTION_PARAMS)
"""Params polymagic reads as executor options: written with ``contextOnly: true``."""
_PARAM_KEYS = frozenset(k for n, i in Param.model_fields.items() for k in (n, i.alias) if k)
_FRAME_KEYS = frozenset({"version", "kind", "name", "params", *RUN_PATCH, "hubRef", "hub_ref"})
_CONTAINER = key_spellings(JobRun, "container")
_LIMITS_PLACE = (RUN_PATCH, _CONTAINER, key_spellings(Container, "resources"), ("limits",))
"""The keys from the operation down to the container's limits, each with its spellings."""


def lookup(mapping: Any, spellings: tuple[str, ...]) -> tuple[str | None, Any]:
    """The key a mapping uses for a field (of its spellings) and its value."""
    if isinstance(mapping, Mapping):
        for key in spellings:
            if key in mapping:
                return key, mapping[key]
    return None, None


@functools.lru_cache(maxsize=8)
def _kaniko_default(name: str) -> Any:
    """The default value of one of the ``kaniko`` component's inputs."""
    inputs = hub_component("kaniko").model.inputs or []
    return next((io.value for io in inputs if io.name == name), None)


# -- the document: where the form's values live -------------------------------------------------


def _init_list(document: Mapping[str, Any]) -> list[Any] | None:
    _, patch = lookup(document, RUN_PATCH)
    init = patch.get("init") if isinstance(patch, Mapping) else None
    return init if isinstance(init, list) else None


def dockerfile_index(document: Mapping[str, Any]) -> int | None:
    """The position in ``runPatch.init`` of the first ``dockerfile`` init with a body."""
    for index, entry in enumerate(_init_list(document) or []):
        if isinstance(entry, Mapping) and isinstance(entry.get("dockerfile"), Mapping):
            return index
    return None


def dockerfile_body(document: Mapping[str, Any]) -> Any:
    index = dockerfile_index(document)
    init = _init_list(document)
    return None if index is None or init is None else init[index]["dockerfile"]


def _has_dockerfile_place(document: Mapping[str, Any]) -> bool:
    """Whether the form's dockerfile fields have a place: an init it edits, or room for one.

    Not when ``runPatch`` or its ``init`` is a template, or the first ``dockerfile`` init is.
    """
    if dockerfile_index(document) is not None:
        return True
    _, patch = lookup(document, RUN_PATCH)
    init = patch.get("init") if isinstance(patch, Mapping) else None
    if patch is not None and not isinstance(patch, Mapping):
        return False
    if init is not None and not isinstance(init, list):
        return False
    return not any(isinstance(entry, Mapping) and "dockerfile" in entry for entry in init or ())


def _new_dockerfile_body(document: dict[str, Any]) -> dict[str, Any] | None:
    """Add a ``dockerfile`` init (and ``runPatch.init`` if needed); None if one cannot go there."""
    key, patch = lookup(document, RUN_PATCH)
    if patch is None:
        patch = _insert_before(document, key or "runPatch", {}, ("hubRef", "hub_ref"))
    if not isinstance(patch, dict):
        return None
    if patch.get("init") is None:
        patch["init"] = []
    if not isinstance(patch["init"], list):
        return None
    body: dict[str, Any] = {}
    patch["init"].append({"dockerfile": body})
    return body


def _insert_before(mapping: dict[str, Any], key: str, value: Any, before: tuple[str, ...]) -> Any:
    """Set ``mapping[key]``; a new key goes ahead of the first of ``before`` (keeps YAML tidy)."""
    if key in mapping:
        mapping[key] = value
        return value
    items = list(mapping.items())
    position = next((i for i, (k, _) in enumerate(items) if k in before), len(items))
    items.insert(position, (key, value))
    mapping.clear()
    mapping.update(items)
    return value


def _param(document: Mapping[str, Any], name: str) -> Param | None:
    params = document.get("params")
    if not isinstance(params, Mapping) or name not in params:
        return None
    try:
        return Param.model_validate(params[name])
    except ValidationError:
        return None


def _param_entry(raw: Any) -> dict[str, Any]:
    """A param in its full form (``{value: ...}``), as a new dict."""
    if isinstance(raw, Mapping) and raw and _PARAM_KEYS & set(raw):
        return dict(raw)
    return {"value": raw}


def _read_field(document: Mapping[str, Any], spec: Field) -> Any:
    """The value a field edits, as the document has it (kaniko defaults for absent params)."""
    if spec.attr is None:
        body = dockerfile_body(document)
        return lookup(body, key_spellings(DockerfileInit, spec.key))[1]
    if spec.attr == "limit":
        steps, _ = _limits_steps(document)
        limits = steps[-1][1] if len(steps) == len(_LIMITS_PLACE) else None
        return limits.get(spec.key) if isinstance(limits, Mapping) else None
    param = _param(document, spec.key)
    value = None if param is None else getattr(param, spec.attr)
    return _kaniko_default(spec.key) if value is None and spec.attr == "value" else value


def _write_field(document: dict[str, Any], spec: Field, value: Any) -> None:
    if spec.attr is None:
        _write_dockerfile_key(document, spec.key, value)
    elif spec.attr == "limit":
        _write_limit(document, spec.key, value)
    else:
        _write_param(document, spec.key, spec.attr, value)


def _write_dockerfile_key(document: dict[str, Any], key: str, value: Any) -> None:
    spellings = key_spellings(DockerfileInit, key)
    body = dockerfile_body(document)
    if body is None and value is not UNSET:
        body = _new_dockerfile_body(document)
    if not isinstance(body, dict):
        return
    written = lookup(body, spellings)[0] or spellings[0]
    for other in spellings:
        if other != written:
            body.pop(other, None)
    if value is UNSET:
        body.pop(written, None)
    else:
        body[written] = value


def _write_param(document: dict[str, Any], name: str, attr: str, value: Any) -> None:
    if attr == "value" and value == _kaniko_default(name):
        value = UNSET  # only what differs from the component's default is written
    params = document.get("params")
    if not isinstance(params, dict):
        if value is UNSET:
            return
        params = _insert_before(document, "params", {}, (*RUN_PATCH, "hubRef", "hub_ref"))
    entry = _param_entry(params[name]) if name in params else {}
    if value is UNSET:
        entry.pop(attr, None)
    else:  # a new key goes where the README has it: connection, then value
        _insert_before(entry, attr, value, ("value",) if attr == "connection" else ())
    if name in _CONTEXT_ONLY_PARAMS:
        # An executor option is no input of the component: Polyaxon keeps it as context only.
        if value is not UNSET:
            entry[lookup(entry, _CONTEXT_ONLY)[0] or _CONTEXT_ONLY[0]] = True
        elif set(entry) <= set(_CONTEXT_ONLY):
            entry = {}  # nothing left but the flag: the option is gone
    if entry:
        params[name] = entry
    else:
        params.pop(name, None)
    if not params:
        document.pop("params", None)


def _limits_steps(document: Mapping[str, Any]) -> tuple[list[tuple[str, Any]], bool]:
    """``(key, value)`` from ``runPatch`` down to ``limits`` as far as the document has them
    (a null counts as absent), and whether the limits have a place: False when one of them is
    not a mapping (a ``{{ ... }}`` template, a list)."""
    steps: list[tuple[str, Any]] = []
    current: Any = document
    for spellings in _LIMITS_PLACE:
        key, value = lookup(current, spellings)
        if key is None or value is None:
            return steps, True
        steps.append((key, value))
        if not isinstance(value, Mapping):
            return steps, False
        current = value
    return steps, True


def _write_limit(document: dict[str, Any], name: str, value: Any) -> None:
    """Set or remove ``runPatch.container.resources.limits.<name>``, adding the mappings on the
    way; a removal also removes the ``limits``, ``resources`` and ``container`` it left empty."""
    steps, placed = _limits_steps(document)
    if not placed:
        return
    if value is UNSET:
        holders = [document, *(mapping for _, mapping in steps)]
        if len(steps) < len(_LIMITS_PLACE) or name not in holders[-1]:
            return
        holders[-1].pop(name)
        for depth in range(len(steps) - 1, 0, -1):  # limits, resources, container; not runPatch
            if steps[depth][1]:
                break
            holders[depth].pop(steps[depth][0])
        return
    current: dict[str, Any] = document
    for depth, spellings in enumerate(_LIMITS_PLACE):
        written, inner = lookup(current, spellings)
        if inner is None:
            before = ("hubRef", "hub_ref") if depth == 0 else ()
            inner = _insert_before(current, written or spellings[0], {}, before)
        current = inner
    current[name] = value


def read_form_values(document: Mapping[str, Any]) -> tuple[dict[str, str | bool], set[str]]:
    """What each field shows for ``document``, and the fields that cannot show their value."""
    values: dict[str, str | bool] = {}
    hidden: set[str] = set()
    placed = _has_dockerfile_place(document)
    limits_placed = _limits_steps(document)[1]
    for spec in FIELDS:
        value = _read_field(document, spec)
        shown = spec.codec.show(value)
        unplaced = not placed if spec.attr is None else spec.attr == "limit" and not limits_placed
        if shown is None or unplaced:
            hidden.add(spec.name)
            shown = _as_text(value) if isinstance(spec.codec.blank, str) else spec.codec.blank
        values[spec.name] = shown
    return values, hidden


def _as_text(value: Any) -> str:
    """Any value as text, for a disabled field that shows what the YAML has."""
    if value is None or isinstance(value, str):
        return value or ""
    return dump_yaml(value).rstrip() if isinstance(value, (list, dict)) else str(value)


def merge_form_values(
    base: Mapping[str, Any], values: Mapping[str, Any], hidden: AbstractSet[str] = frozenset()
) -> tuple[dict[str, Any], dict[str, str]]:
    """A copy of ``base`` with the fields' values written in, and the fields that cannot be read.

    A field whose text is what ``base`` shows keeps ``base``'s value as written; hidden fields
    and fields that cannot be read keep it too.
    """
    document = copy.deepcopy(dict(base))
    problems: dict[str, str] = {}
    for spec in FIELDS:
        if spec.name in hidden or spec.name not in values:
            continue
        current = _read_field(base, spec)
        if spec.codec.show(current) == values[spec.name]:
            continue
        try:
            value = spec.codec.read(values[spec.name], current)
        except InputError as exc:
            problems[spec.name] = exc.message
            continue
        _write_field(document, spec, value)
    return document, problems


def yaml_only_parts(document: Mapping[str, Any], hidden: AbstractSet[str]) -> list[str]:
    """The parts of ``document`` the form does not edit (kept as written), as dotted paths."""
    parts = [key for key in document if key not in _FRAME_KEYS]
    parts += _params_only_in_yaml(document, hidden)
    return parts + _run_patch_only_in_yaml(document, hidden)


def _params_only_in_yaml(document: Mapping[str, Any], hidden: AbstractSet[str]) -> list[str]:
    params = document.get("params")
    form_params = {spec.key for spec in FIELDS if spec.param is not None}
    parts = []
    for name, raw in params.items() if isinstance(params, Mapping) else ():
        if name not in form_params:
            parts.append(f"params.{name}")
        elif isinstance(raw, Mapping) and _PARAM_KEYS & set(raw):
            shown = {"value", "connection"}
            if name in _CONTEXT_ONLY_PARAMS:
                shown.update(_CONTEXT_ONLY)  # the form writes the flag itself
            parts += [f"params.{name}.{k}" for k in raw if k not in shown]
    for spec in FIELDS:
        if spec.param is not None and spec.name in hidden:
            parts.append(
                f"params.{spec.key}" + (".connection" if spec.attr == "connection" else "")
            )
    return parts


def _run_patch_only_in_yaml(document: Mapping[str, Any], hidden: AbstractSet[str]) -> list[str]:
    patch_key, patch = lookup(document, RUN_PATCH)
    if patch_key is None or patch is None:
        return []
    if not isinstance(patch, Mapping):
        return [patch_key]
    parts = [f"{patch_key}.{key}" for key in patch if key not in ("init", *_CONTAINER)]
    parts += _container_only_in_yaml(document, hidden)
    init = patch.get("init")
    index = dockerfile_index(document)
    if init is not None and not isinstance(init, list):
        parts.append(f"{patch_key}.init")
    parts += [f"{patch_key}.init[{i}]" for i in range(len(init or ())) if i != index]
    body = dockerfile_body(document)
    if body is None:
        return parts
    where = f"{patch_key}.init[{index}].dockerfile"
    known = {k for s in FIELDS if s.attr is None for k in key_spellings(DockerfileInit, s.key)}
    parts += [f"{where}.{key}" for key in body if key not in known]
    fields = (s for s in FIELDS if s.attr is None and s.name in hidden)
    return parts + [f"{where}.{spec.key}" for spec in fields]


def _container_only_in_yaml(document: Mapping[str, Any], hidden: AbstractSet[str]) -> list[str]:
    """What of ``runPatch.container`` the form does not edit: all but the limits it shows."""
    steps, _ = _limits_steps(document)
    shown = tuple(s.key for s in FIELDS if s.attr == "limit" and s.name not in hidden)
    parts: list[str] = []
    where = steps[0][0] if steps else ""
    for depth, (key, value) in enumerate(steps[1:], start=1):
        where = f"{where}.{key}"
        if not isinstance(value, Mapping):
            return [*parts, where]  # a template or a list: the whole of it is the YAML's
        edited = _LIMITS_PLACE[depth + 1] if depth + 1 < len(_LIMITS_PLACE) else shown
        parts += [f"{where}.{k}" for k in value if k not in edited]
    return parts
