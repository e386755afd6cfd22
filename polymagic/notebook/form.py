"""The build form: an ipywidgets editor over a build operation, kept in sync with its YAML.

This module owns the mapping between form fields and the operation document (which keys of
``params`` and of the first ``dockerfile`` init each field edits), how each field's text is
read (``KEY=value`` lines, ``src dst`` lines, numbers), and the routing of polymagic's
validation messages to the fields they concern. Every rule about what is *valid* comes from
``load_operation``, ``compile_operation`` and ``build_manifests``; this module only reads the
form's own text. The executor options (build args, target stage, extra tags) are params the
component does not declare, so the form writes them as ``{value: ..., contextOnly: true}``.

The YAML is the document of record: the form edits a copy of the last valid YAML, so anything
the form cannot show (a second init, ``runPatch.environment``, a templated field) is kept as
written. It never starts a build: the Build button hands the YAML to a callback.
"""

from __future__ import annotations

import contextlib
import copy
import enum
import functools
import html
import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import ipywidgets as widgets
from pydantic import BaseModel, ValidationError

from polymagic.errors import PolymagicError, SpecError
from polymagic.render.compiler import compile_operation
from polymagic.render.dockerfile import render_dockerfile
from polymagic.render.manifests import OPTION_PARAMS, build_manifests
from polymagic.spec.examples import QUICK_START
from polymagic.spec.hub import hub_component
from polymagic.spec.loader import load_dockerfile_init, load_operation, parse_yaml
from polymagic.spec.models import ConnectionCatalog, DockerfileInit, Operation, Param
from polymagic.spec.yamltext import dump_yaml

__all__ = [
    "GENERAL",
    "QUICK_START_YAML",
    "YAML",
    "BuildCallback",
    "BuildForm",
    "FormCheck",
    "check_document",
    "field_for_path",
    "merge_form_values",
    "parse_operation_text",
    "read_form_values",
]

QUICK_START_YAML = QUICK_START
"""The README's quick-start operation: what a new form starts with."""

GENERAL = "general"
"""Key in ``BuildForm.errors`` for a message that belongs to no field."""
YAML = "yaml"
"""Key in ``BuildForm.errors`` for a YAML view that does not load."""

BuildCallback = Callable[[str, str | None], None]
"""Called by the Build button with the operation YAML and the namespace (or None)."""


# -- reading and showing field values ----------------------------------------------------------


class _Unset(enum.Enum):
    UNSET = "unset"


_UNSET = _Unset.UNSET
"""A field the form leaves empty: its key is removed from the document."""


class _InputError(Exception):
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
        return text if text else _UNSET


class _IntCodec(_TextCodec):
    """A whole number, or a ``{{ ... }}`` template; other text is passed on for polymagic to refuse."""

    def show(self, value: Any) -> str | bool | None:
        return None if isinstance(value, (bool, float)) else super().show(value)

    def read(self, shown: Any, base: Any) -> Any:
        text = super().read(shown, base)
        if isinstance(text, str) and re.fullmatch(r"[-+]?\d+", text):
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
        return lines if lines else _UNSET


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
            return _UNSET
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
            raise _InputError(f"line {number}: write `{name}=value` (got `{line.strip()}`)")
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
                raise _InputError(f"line {number}: `{key}` is already set on line {first[key]}")
            first[key] = number
            args[key] = value
        return args if args else _UNSET


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
                raise _InputError(f"line {number}: write `src` or `src dst` (got `{line.strip()}`)")
            if parts:
                entries.append(parts[0] if len(parts) == 1 else parts)
        return entries if entries else _UNSET


class _TagsCodec(_LinesCodec):
    """Image references or ``:tag`` suffixes, one per line."""

    def read(self, shown: Any, base: Any) -> Any:
        for number, line in enumerate(str(shown).splitlines(), start=1):
            if len(line.split()) > 1:
                raise _InputError(
                    f"line {number}: write one reference or `:tag` per line (got `{line.strip()}`)"
                )
        return super().read(shown, base)


def _copy_line(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry if entry and len(entry.split()) == 1 and entry == entry.strip() else None
    if isinstance(entry, list) and len(entry) == 2 and all(isinstance(p, str) for p in entry):
        return " ".join(entry) if all(_copy_line(part) for part in entry) else None
    return None


_Codec = _TextCodec | _CheckCodec


# -- the fields ----------------------------------------------------------------------------------

WidgetKind = Literal["text", "area", "check", "combo"]


@dataclass(frozen=True)
class _Field:
    """One form field and the place in the operation document it edits."""

    name: str
    label: str
    codec: _Codec
    key: str
    """The key in the dockerfile init (its camelCase alias), or the param's name."""
    attr: Literal["value", "connection"] | None = None
    """For a param: which part of it the field edits; None for a dockerfile key."""
    widget: WidgetKind = "text"
    placeholder: str = ""

    @property
    def param(self) -> tuple[str, str] | None:
        """``(param name, attr)`` for a param field."""
        return None if self.attr is None else (self.key, self.attr)


_TEXT = _TextCodec()
_LINES = _LinesCodec()
_AREA: WidgetKind = "area"
_FIELDS: tuple[_Field, ...] = (
    _Field("image", "Base image", _TEXT, "image", placeholder="python:3.11-slim"),
    _Field("run", "Run", _LINES, "run", widget=_AREA, placeholder="one command per line"),
    _Field("env", "Env", _EnvCodec(), "env", widget=_AREA, placeholder="KEY=value per line"),
    _Field("lang_env", "Lang env", _TEXT, "langEnv", placeholder="en_US.UTF-8"),
    _Field("path", "Path", _LINES, "path", widget=_AREA, placeholder="added to PATH, one per line"),
    _Field(
        "copy", "Copy", _CopyCodec(), "copy", widget=_AREA, placeholder="src or src dst per line"
    ),
    _Field("uid", "UID", _IntCodec(), "uid", placeholder="e.g. 1000"),
    _Field("gid", "GID", _IntCodec(), "gid", placeholder="e.g. 1000"),
    _Field("username", "Username", _TEXT, "username", placeholder="polyaxon"),
    _Field("workdir", "Workdir", _TEXT, "workdir", placeholder="/code"),
    _Field("destination", "Destination", _TEXT, "destination", "value", placeholder="org/image"),
    _Field("connection", "Connection", _TEXT, "destination", "connection", widget="combo"),
    _Field("cache", "Cache", _CheckCodec(), "cache", "value", widget="check"),
    _Field("cache_ttl", "Cache TTL", _TEXT, "cache_ttl", "value", placeholder="1h"),
    _Field(
        "build_args",
        "Build args",
        _BuildArgsCodec(),
        "build_args",
        "value",
        widget=_AREA,
        placeholder="NAME=value per line",
    ),
    _Field("target", "Target stage", _TEXT, "target", "value", placeholder="e.g. runtime"),
    _Field(
        "tags",
        "Extra tags",
        _TagsCodec(),
        "tags",
        "value",
        widget=_AREA,
        placeholder="org/image:v2 or :v2, one per line",
    ),
)
_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Image", ("image", "run", "env", "lang_env", "path", "copy")),
    ("User and workdir", ("uid", "gid", "username", "workdir")),
    ("Push", ("destination", "connection", "cache", "cache_ttl")),
    ("Executor options", ("build_args", "target", "tags")),
)
_NAMESPACE_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _spellings(model: type[BaseModel], key: str) -> tuple[str, ...]:
    """Every way a document may spell a field: its alias first, then its Python name."""
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return tuple(dict.fromkeys([info.alias or name, name]))
    return (key,)


_RUN_PATCH = _spellings(Operation, "runPatch")
_CONTEXT_ONLY = _spellings(Param, "contextOnly")
_CONTEXT_ONLY_PARAMS = frozenset(OPTION_PARAMS)
"""Params polymagic reads as executor options: written with ``contextOnly: true``."""
_PARAM_KEYS = frozenset(k for n, i in Param.model_fields.items() for k in (n, i.alias) if k)
_FRAME_KEYS = frozenset({"version", "kind", "name", "params", *_RUN_PATCH, "hubRef", "hub_ref"})


def _lookup(mapping: Any, spellings: tuple[str, ...]) -> tuple[str | None, Any]:
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
    _, patch = _lookup(document, _RUN_PATCH)
    init = patch.get("init") if isinstance(patch, Mapping) else None
    return init if isinstance(init, list) else None


def _dockerfile_index(document: Mapping[str, Any]) -> int | None:
    """The position in ``runPatch.init`` of the first ``dockerfile`` init with a body."""
    for index, entry in enumerate(_init_list(document) or []):
        if isinstance(entry, Mapping) and isinstance(entry.get("dockerfile"), Mapping):
            return index
    return None


def _dockerfile_body(document: Mapping[str, Any]) -> Any:
    index = _dockerfile_index(document)
    init = _init_list(document)
    return None if index is None or init is None else init[index]["dockerfile"]


def _has_dockerfile_place(document: Mapping[str, Any]) -> bool:
    """Whether the form's dockerfile fields have a place: an init it edits, or room for one.

    Not when ``runPatch`` or its ``init`` is a template, or the first ``dockerfile`` init is.
    """
    if _dockerfile_index(document) is not None:
        return True
    _, patch = _lookup(document, _RUN_PATCH)
    init = patch.get("init") if isinstance(patch, Mapping) else None
    if patch is not None and not isinstance(patch, Mapping):
        return False
    if init is not None and not isinstance(init, list):
        return False
    return not any(isinstance(entry, Mapping) and "dockerfile" in entry for entry in init or ())


def _new_dockerfile_body(document: dict[str, Any]) -> dict[str, Any] | None:
    """Add a ``dockerfile`` init (and ``runPatch.init`` if needed); None if one cannot go there."""
    key, patch = _lookup(document, _RUN_PATCH)
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


def _read_field(document: Mapping[str, Any], spec: _Field) -> Any:
    """The value a field edits, as the document has it (kaniko defaults for absent params)."""
    if spec.attr is None:
        body = _dockerfile_body(document)
        return _lookup(body, _spellings(DockerfileInit, spec.key))[1]
    param = _param(document, spec.key)
    value = None if param is None else getattr(param, spec.attr)
    return _kaniko_default(spec.key) if value is None and spec.attr == "value" else value


def _write_field(document: dict[str, Any], spec: _Field, value: Any) -> None:
    if spec.attr is None:
        _write_dockerfile_key(document, spec.key, value)
    else:
        _write_param(document, spec.key, spec.attr, value)


def _write_dockerfile_key(document: dict[str, Any], key: str, value: Any) -> None:
    spellings = _spellings(DockerfileInit, key)
    body = _dockerfile_body(document)
    if body is None and value is not _UNSET:
        body = _new_dockerfile_body(document)
    if not isinstance(body, dict):
        return
    written = _lookup(body, spellings)[0] or spellings[0]
    for other in spellings:
        if other != written:
            body.pop(other, None)
    if value is _UNSET:
        body.pop(written, None)
    else:
        body[written] = value


def _write_param(document: dict[str, Any], name: str, attr: str, value: Any) -> None:
    if attr == "value" and value == _kaniko_default(name):
        value = _UNSET  # only what differs from the component's default is written
    params = document.get("params")
    if not isinstance(params, dict):
        if value is _UNSET:
            return
        params = _insert_before(document, "params", {}, (*_RUN_PATCH, "hubRef", "hub_ref"))
    entry = _param_entry(params[name]) if name in params else {}
    if value is _UNSET:
        entry.pop(attr, None)
    else:  # a new key goes where the README has it: connection, then value
        _insert_before(entry, attr, value, ("value",) if attr == "connection" else ())
    if name in _CONTEXT_ONLY_PARAMS:
        # An executor option is no input of the component: Polyaxon keeps it as context only.
        if value is not _UNSET:
            entry[_lookup(entry, _CONTEXT_ONLY)[0] or _CONTEXT_ONLY[0]] = True
        elif set(entry) <= set(_CONTEXT_ONLY):
            entry = {}  # nothing left but the flag: the option is gone
    if entry:
        params[name] = entry
    else:
        params.pop(name, None)
    if not params:
        document.pop("params", None)


def read_form_values(document: Mapping[str, Any]) -> tuple[dict[str, str | bool], set[str]]:
    """What each field shows for ``document``, and the fields that cannot show their value."""
    values: dict[str, str | bool] = {}
    hidden: set[str] = set()
    placed = _has_dockerfile_place(document)
    for spec in _FIELDS:
        value = _read_field(document, spec)
        shown = spec.codec.show(value)
        if shown is None or (spec.attr is None and not placed):
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
    for spec in _FIELDS:
        if spec.name in hidden or spec.name not in values:
            continue
        current = _read_field(base, spec)
        if spec.codec.show(current) == values[spec.name]:
            continue
        try:
            value = spec.codec.read(values[spec.name], current)
        except _InputError as exc:
            problems[spec.name] = exc.message
            continue
        _write_field(document, spec, value)
    return document, problems


def _yaml_only_parts(document: Mapping[str, Any], hidden: AbstractSet[str]) -> list[str]:
    """The parts of ``document`` the form does not edit (kept as written), as dotted paths."""
    parts = [key for key in document if key not in _FRAME_KEYS]
    parts += _params_only_in_yaml(document, hidden)
    return parts + _run_patch_only_in_yaml(document, hidden)


def _params_only_in_yaml(document: Mapping[str, Any], hidden: AbstractSet[str]) -> list[str]:
    params = document.get("params")
    form_params = {spec.key for spec in _FIELDS if spec.attr is not None}
    parts = []
    for name, raw in params.items() if isinstance(params, Mapping) else ():
        if name not in form_params:
            parts.append(f"params.{name}")
        elif isinstance(raw, Mapping) and _PARAM_KEYS & set(raw):
            shown = {"value", "connection"}
            if name in _CONTEXT_ONLY_PARAMS:
                shown.update(_CONTEXT_ONLY)  # the form writes the flag itself
            parts += [f"params.{name}.{k}" for k in raw if k not in shown]
    for spec in _FIELDS:
        if spec.attr is not None and spec.name in hidden:
            parts.append(
                f"params.{spec.key}" + (".connection" if spec.attr == "connection" else "")
            )
    return parts


def _run_patch_only_in_yaml(document: Mapping[str, Any], hidden: AbstractSet[str]) -> list[str]:
    patch_key, patch = _lookup(document, _RUN_PATCH)
    if patch_key is None or patch is None:
        return []
    if not isinstance(patch, Mapping):
        return [patch_key]
    parts = [f"{patch_key}.{key}" for key in patch if key != "init"]
    init = patch.get("init")
    index = _dockerfile_index(document)
    if init is not None and not isinstance(init, list):
        parts.append(f"{patch_key}.init")
    parts += [f"{patch_key}.init[{i}]" for i in range(len(init or ())) if i != index]
    body = _dockerfile_body(document)
    if body is None:
        return parts
    where = f"{patch_key}.init[{index}].dockerfile"
    known = {k for s in _FIELDS if s.attr is None for k in _spellings(DockerfileInit, s.key)}
    parts += [f"{where}.{key}" for key in body if key not in known]
    fields = (s for s in _FIELDS if s.attr is None and s.name in hidden)
    return parts + [f"{where}.{spec.key}" for spec in fields]


# -- validation ----------------------------------------------------------------------------------


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
        return next((s.name for s in _FIELDS if s.param == (name, attr)), None)
    for root in (*_RUN_PATCH, "run"):
        prefix = f"{root}.init[{init_index}].dockerfile."
        if init_index is not None and path.startswith(prefix):
            key = _segment(path[len(prefix) :])
            fields = (s for s in _FIELDS if s.attr is None)
            return next((s.name for s in fields if key in _spellings(DockerfileInit, s.key)), None)
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
        field = field_for_path(exc.path, _dockerfile_index(document))
        if field:
            return {field: exc.message}
    return {GENERAL: str(exc)}


def _render_alone(document: Mapping[str, Any]) -> str | None:
    """The Dockerfile of the form's init when the rest of the operation has a problem.

    Only without templates: a ``{{ ... }}`` needs the compiled operation to resolve it.
    """
    body = _dockerfile_body(document)
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


def _namespace_problem(namespace: str) -> str | None:
    if not namespace or _NAMESPACE_PATTERN.fullmatch(namespace):
        return None
    return "not a valid namespace: lowercase letters, digits and `-`, at most 63 characters"


# -- the widgets ---------------------------------------------------------------------------------

_SKELETON: dict[str, Any] = {"version": 1, "kind": "operation", "name": "build", "hubRef": "kaniko"}
_COLOURS = {"error": "#b00020", "warning": "#8a6d00", "info": "#555555"}
_LABEL_STYLE = {"description_width": "8em"}
_Self = TypeVar("_Self", bound="BuildForm")
_Arg = TypeVar("_Arg")


def _message_html(level: str, text: str | None) -> str:
    if not text:
        return ""
    colour = _COLOURS[level]
    return f'<div style="color:{colour};white-space:pre-wrap">{html.escape(text)}</div>'


def _preview_html(text: str | None) -> str:
    if text is None:
        return _message_html("info", "No Dockerfile yet: fix the problems in the form.")
    # The newline after <pre> is dropped by HTML, so the Dockerfile's own leading one shows.
    return (
        '<pre style="font-family:monospace;margin:0;padding:4px;background:#f7f7f7">\n'
        f"{html.escape(text)}</pre>"
    )


def _make_widget(spec: _Field, connections: ConnectionCatalog | None) -> Any:
    common: dict[str, Any] = {"description": spec.label, "style": _LABEL_STYLE}
    layout = widgets.Layout(width="100%")
    if spec.widget == "check":
        return widgets.Checkbox(value=False, indent=False, **common)
    if spec.widget == "area":
        return widgets.Textarea(placeholder=spec.placeholder, rows=3, layout=layout, **common)
    if spec.widget == "combo":
        names = tuple(connections.names()) if connections is not None else ()
        return widgets.Combobox(
            options=names, placeholder=spec.placeholder, layout=layout, **common
        )
    return widgets.Text(placeholder=spec.placeholder, layout=layout, **common)


def _never_raises(
    method: Callable[[_Self, _Arg], None],
) -> Callable[[_Self, _Arg], None]:
    """A widget callback that shows an unexpected failure in the form instead of raising it."""

    @functools.wraps(method)
    def guarded(self: _Self, argument: _Arg) -> None:
        try:
            method(self, argument)
        # A raising widget callback is lost in the browser console: show it in the form instead.
        except Exception as exc:
            self._note = ("error", f"internal error, please report it: {type(exc).__name__}: {exc}")
            self._show_messages()

    return guarded


class BuildForm:
    """A form and a YAML view over one build operation, kept in sync both ways.

    Not a widget itself: the widget tree is ``.widget`` (a ``VBox``), which is what a notebook
    displays for the form (``_repr_mimebundle_``; ``text/plain`` is the YAML). ``fields`` holds
    the field widgets by name, ``field_messages`` the HTML under each, ``yaml_view`` the YAML
    ``Textarea``, ``preview`` the Dockerfile, ``messages`` the general message area.
    """

    def __init__(
        self,
        connections: ConnectionCatalog | None = None,
        *,
        yaml: str | None = None,
        namespace: str | None = None,
    ) -> None:
        """A form over ``yaml`` (default: the README's quick-start operation)."""
        self._connections = connections
        self._callback: BuildCallback | None = None
        self._updating = False
        self._base: dict[str, Any] = copy.deepcopy(_SKELETON)  # until a YAML loads
        self._document = copy.deepcopy(_SKELETON)
        self._hidden: set[str] = set()
        self._input_errors: dict[str, str] = {}
        self._yaml_error: str | None = None
        self._check = FormCheck({})
        self._note: tuple[str, str] | None = None
        self._build_widgets()
        self.namespace_field.value = namespace or ""
        self.set_yaml(QUICK_START_YAML if yaml is None else yaml)

    @classmethod
    def from_yaml(
        cls: type[_Self], text: str, connections: ConnectionCatalog | None = None
    ) -> _Self:
        """A form over the operation in ``text`` (an invalid text is shown with its error)."""
        return cls(connections, yaml=text)

    # -- public API ----------------------------------------------------------------------------

    @property
    def yaml(self) -> str:
        """The operation YAML as the YAML view holds it."""
        return str(self.yaml_view.value)

    def set_yaml(self, text: str) -> None:
        """Replace the YAML; the fields follow when it loads, else its error is shown."""
        with self._quietly():
            self.yaml_view.value = text
        self._note = None
        self._apply_yaml(text)

    def operation(self) -> dict[str, Any]:
        """The current operation as a dict (the last YAML that loaded, with the form's edits)."""
        return copy.deepcopy(self._document)

    @property
    def errors(self) -> dict[str, str]:
        """Messages by field name; ``GENERAL`` and ``YAML`` for the other two places."""
        errors = dict(self._input_errors)
        for name, message in self._check.errors.items():
            errors.setdefault(name, message)
        problem = _namespace_problem(self.namespace_field.value.strip())
        if problem:
            errors["namespace"] = problem
        if self._yaml_error:
            errors[YAML] = self._yaml_error
        return errors

    @property
    def dockerfile_text(self) -> str | None:
        """The rendered Dockerfile of the form's init, or None when it does not validate."""
        return self._check.dockerfile

    @property
    def namespace(self) -> str | None:
        """The namespace field, or None when empty."""
        return str(self.namespace_field.value).strip() or None

    def on_build(self, callback: BuildCallback) -> None:
        """Call ``callback(yaml, namespace)`` when the Build button is clicked."""
        self._callback = callback

    def cell_text(self) -> str:
        """A ``%%polybuild`` cell holding the operation YAML."""
        magic = "%%polybuild"
        if self.namespace:
            magic += f" --namespace {shlex.quote(self.namespace)}"
        return f"{magic}\n{self.yaml}"

    def write_cell(self) -> None:
        """Put ``cell_text()`` into a new cell below, when running under IPython."""
        from IPython import get_ipython  # the UI layer only; not needed to build the form

        shell = get_ipython()
        if shell is None:
            self._note = ("warning", "no IPython session: copy the text of `form.cell_text()`")
        else:
            shell.set_next_input(self.cell_text(), replace=False)
            self._note = ("info", "a %%polybuild cell with this operation was added below")
        self._show_messages()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = self.yaml
        return bundle

    # -- building the widgets ------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.fields: dict[str, Any] = {s.name: _make_widget(s, self._connections) for s in _FIELDS}
        self.namespace_field = widgets.Text(
            description="Namespace", placeholder="kubeconfig default", style=_LABEL_STYLE
        )
        self.field_messages: dict[str, Any] = {
            name: widgets.HTML() for name in [*self.fields, "namespace"]
        }
        self.yaml_view = widgets.Textarea(rows=22, layout=widgets.Layout(width="100%"))
        self.yaml_message = widgets.HTML()
        self.preview = widgets.HTML()
        self.messages = widgets.HTML()
        self.build_button = widgets.Button(description="Build", icon="play", button_style="primary")
        self.write_cell_button = widgets.Button(description="Write cell", icon="pencil")
        for widget in self.fields.values():
            widget.observe(self._on_field_change, names="value")
        self.namespace_field.observe(self._on_namespace_change, names="value")
        self.yaml_view.observe(self._on_yaml_change, names="value")
        self.build_button.on_click(self._on_build_click)
        self.write_cell_button.on_click(self._on_write_cell_click)
        self.widget = self._layout()

    def _layout(self) -> Any:
        column: list[Any] = []
        for title, names in _SECTIONS:
            column.append(widgets.HTML(f"<b>{html.escape(title)}</b>"))
            column += [widgets.VBox([self.fields[n], self.field_messages[n]]) for n in names]
        column += [self.namespace_field, self.field_messages["namespace"]]
        views = [
            widgets.HTML("<b>Dockerfile</b>"),
            self.preview,
            widgets.HTML("<b>Operation YAML</b>"),
            self.yaml_view,
            self.yaml_message,
        ]
        half = widgets.Layout(width="50%", padding="0 8px")
        body = widgets.HBox([widgets.VBox(column, layout=half), widgets.VBox(views, layout=half)])
        buttons = widgets.HBox([self.build_button, self.write_cell_button])
        return widgets.VBox([self.messages, body, buttons])

    # -- keeping the two views in sync -----------------------------------------------------------

    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        """Set widget values without their observers reacting (no feedback loop)."""
        self._updating = True
        try:
            yield
        finally:
            self._updating = False

    @_never_raises
    def _on_field_change(self, change: dict[str, Any]) -> None:
        if self._updating:
            return
        self._note = None
        values = {name: widget.value for name, widget in self.fields.items()}
        self._document, self._input_errors = merge_form_values(self._base, values, self._hidden)
        self._yaml_error = None
        with self._quietly():
            self.yaml_view.value = dump_yaml(self._document)
        self._refresh()

    @_never_raises
    def _on_yaml_change(self, change: dict[str, Any]) -> None:
        if self._updating:
            return
        self._note = None
        self._apply_yaml(str(change["new"]))

    @_never_raises
    def _on_namespace_change(self, change: dict[str, Any]) -> None:
        if not self._updating:
            self._refresh()

    def _apply_yaml(self, text: str) -> None:
        try:
            document = parse_operation_text(text)
        except SpecError as exc:
            self._yaml_error = str(exc)  # the form keeps its values
            self._refresh()
            return
        self._yaml_error = None
        self._base = document
        self._document = copy.deepcopy(document)
        self._input_errors = {}
        self._show_document(document)
        self._refresh()

    def _show_document(self, document: Mapping[str, Any]) -> None:
        values, self._hidden = read_form_values(document)
        with self._quietly():
            for name, value in values.items():
                widget = self.fields[name]
                widget.value = value
                widget.disabled = name in self._hidden

    # -- showing the state ---------------------------------------------------------------------

    def _refresh(self) -> None:
        namespace = self.namespace
        if namespace is not None and _namespace_problem(namespace):
            namespace = None
        self._check = check_document(self._document, self._connections, namespace)
        errors = self.errors
        for name, message in self.field_messages.items():
            message.value = _message_html("error", errors.get(name))
        self.yaml_message.value = _message_html("error", errors.get(YAML))
        self.preview.value = _preview_html(self._check.dockerfile)
        self.build_button.disabled = bool(errors)
        self._show_messages()

    def _show_messages(self) -> None:
        lines = [_message_html("error", self.errors.get(GENERAL))]
        if self._note is not None:
            lines.append(_message_html(*self._note))
        lines += [_message_html("warning", warning) for warning in self._check.warnings]
        parts = _yaml_only_parts(self._document, self._hidden)
        if parts:
            listed = ", ".join(f"`{part}`" for part in parts)
            note = f"Only editable in the YAML (kept as written): {listed}"
            lines.append(_message_html("info", note))
        self.messages.value = "".join(lines)

    # -- buttons -------------------------------------------------------------------------------

    @_never_raises
    def _on_build_click(self, button: Any) -> None:
        if self.errors:
            self._note = ("error", "fix the problems shown in the form before building")
        elif self._callback is None:
            self._note = ("warning", "nothing is set to run builds from this form (`on_build`)")
        else:
            self._note = None
            try:
                self._callback(self.yaml, self.namespace)
            # Any failure: the user sees it here, as a widget callback must not raise.
            except Exception as exc:
                shown = str(exc)
                if not isinstance(exc, PolymagicError):
                    shown = f"{type(exc).__name__}: {exc}"
                self._note = ("error", f"the build failed: {shown}")
        self._show_messages()

    @_never_raises
    def _on_write_cell_click(self, button: Any) -> None:
        self.write_cell()
