"""Compiling an operation into a build: the resolved component, its run and rendered Dockerfiles.

The steps follow Polyaxon's compiler for a job: resolve the component reference, merge params
and ``-P`` overrides, check them against the component's inputs, apply ``runPatch`` with the
patch strategy, resolve templates against params, connections and globals, validate the
result, and render every ``dockerfile`` init. Pure: the only files read are a ``pathRef``
component, relative to the operation's directory.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from polymagic.errors import SpecError
from polymagic.render.dockerfile import RenderedDockerfile, render_dockerfile
from polymagic.spec.connections import ConnectionCatalog
from polymagic.spec.documents import Component, Operation, PatchStrategy, Termination
from polymagic.spec.hub import hub_component
from polymagic.spec.loader import Loaded, load_component, load_operation
from polymagic.spec.models import DockerfileInit, FileInit, JobRun
from polymagic.spec.params import ResolvedParam, merge_overrides, parse_overrides, resolve_params
from polymagic.spec.patch import patch_run
from polymagic.spec.templating import render_value, resolve_run, template_budget
from polymagic.spec.validation import problem_path, validate_model
from polymagic.spec.yaml_reader import LineMap

__all__ = [
    "ARTIFACTS_PATH",
    "CONTEXT_PATH",
    "CompiledBuild",
    "compile_operation",
    "compiled_component",
]

CONTEXT_PATH = "/plx-context"
ARTIFACTS_PATH = "/plx-context/artifacts"
OWN_DOCKERFILE = "Dockerfile"
"""The name of a ``file`` init that is the build's Dockerfile when there is no dockerfile init."""


@dataclass(frozen=True)
class CompiledBuild:
    """Everything polymagic knows about a build before it touches a cluster."""

    operation: Operation
    component: Component
    """The resolved component: the referenced one with ``run`` patched and templates resolved."""
    source_component: Component
    """The referenced component as written (hub, file or inline), before any patch."""
    params: Mapping[str, ResolvedParam]
    connections: ConnectionCatalog
    dockerfiles: tuple[RenderedDockerfile, ...]
    warnings: tuple[str, ...] = ()
    missing_connections: tuple[str, ...] = field(default=())
    termination: Termination | None = None
    """``termination`` with its templates resolved."""

    @property
    def name(self) -> str:
        """The build's name: the operation's, else the component's, else ``build``."""
        return self.operation.name or self.component.name or "build"

    @property
    def run(self) -> JobRun:
        """The resolved job run."""
        return self.component.run

    @property
    def run_dict(self) -> dict[str, Any]:
        """The resolved run as Polyaxon writes it (camelCase; empty-string args kept)."""
        return self.component.run.to_polyaxon()

    @property
    def destination(self) -> str | None:
        """The value of the ``destination`` param, if the component has one."""
        param = self.params.get("destination")
        return None if param is None or param.value is None else str(param.value)

    @property
    def timeout(self) -> int | None:
        """``termination.timeout`` in seconds, if set as a number."""
        term = self.termination
        if term is not None and isinstance(term.timeout, int) and term.timeout > 0:
            return term.timeout
        return None


def _referenced_component(loaded: Loaded[Operation]) -> Loaded[Component]:
    op = loaded.model
    if op.hub_ref is not None:
        return hub_component(op.hub_ref)
    if op.path_ref is not None:
        path = Path(op.path_ref).expanduser()
        if not path.is_absolute() and loaded.base_dir is not None:
            path = loaded.base_dir / path
        try:
            return load_component(path)
        except SpecError as exc:
            if exc.source is None:
                raise SpecError(exc.message, path=exc.path, source=str(path)) from exc
            raise
    if op.component is not None:
        return Loaded(op.component, loaded.lines.nested(("component",)), (), loaded.base_dir)
    raise SpecError("the operation names no component: set `hubRef`, `pathRef` or `component`")


def _template_context(
    names: tuple[str, str | None],
    params: Mapping[str, ResolvedParam],
    connections: ConnectionCatalog,
    run: Mapping[str, Any],
) -> dict[str, Any]:
    """What ``{{ ... }}`` can read: params by name, ``params.<name>``, globals, connections."""
    run_name, namespace = names
    context: dict[str, Any] = {name: param.display for name, param in params.items()}
    context["params"] = {name: param.context() for name, param in params.items() if param.requested}
    context["params"]["as_args"] = [p.as_arg for p in params.values() if p.requested and p.as_arg]
    context["globals"] = {
        "context_path": CONTEXT_PATH,
        "artifacts_path": ARTIFACTS_PATH,
        "name": run_name,
        "namespace": namespace,
        "iteration": None,
        "store_path": "",
    }
    listed = run.get("connections") if isinstance(run.get("connections"), list) else []
    context["connections"] = _schemas(connections, listed or [])
    inits = run.get("init") if isinstance(run.get("init"), list) else []
    context["init"] = _schemas(
        connections, [i.get("connection") for i in inits or [] if isinstance(i, dict)]
    )
    return context


def _schemas(catalog: ConnectionCatalog, names: Sequence[Any]) -> dict[str, Any]:
    """``{name: schema}`` for the named connections that the catalog has."""
    found: dict[str, Any] = {}
    for name in names:
        connection = catalog.get(str(name)) if name else None
        if connection is not None:
            found[str(name)] = dict(connection.schema_ or {})
    return found


def compile_operation(
    source: str | Path | Mapping[str, Any] | Operation,
    *,
    params: Sequence[str] | Mapping[str, Any] = (),
    connections: ConnectionCatalog | None = None,
    namespace: str | None = None,
) -> CompiledBuild:
    """Compile an operation (YAML text, a path, a dict or a model) into a ``CompiledBuild``.

    ``params`` are ``-P`` overrides, as ``name=value`` strings or a mapping; they replace a
    param's value and keep its connection. ``namespace`` is what ``globals.namespace`` reads.
    """
    with template_budget():  # one set of template bounds for the whole compile
        return _compile(source, params, connections, namespace)


def _compile(
    source: str | Path | Mapping[str, Any] | Operation,
    params: Sequence[str] | Mapping[str, Any],
    connections: ConnectionCatalog | None,
    namespace: str | None,
) -> CompiledBuild:
    loaded = Loaded(source, LineMap()) if isinstance(source, Operation) else load_operation(source)
    op = loaded.model
    catalog = connections or ConnectionCatalog()
    referenced = _referenced_component(loaded)
    component = referenced.model
    warnings = [*loaded.warnings, *referenced.warnings]
    resolved = _resolved_params(loaded, component, params)
    names = (op.name or component.name or "build", namespace or op.namespace or "default")
    resolved = _resolve_param_templates(names, resolved, catalog)
    _check_destination_connections(resolved, catalog)

    resolved_run, context = _resolved_run(_patched_run(op, component), names, resolved, catalog)
    termination = _resolve_termination(op.termination or component.termination, context)
    missing = tuple(name for name in _connection_names(resolved_run) if catalog.get(name) is None)
    for name in missing:
        warnings.append(
            f"connection `{name}` is not in the connections catalog: the build gets no registry"
            " URL or credentials from it (see `polymagic render --help` for where connections come from)"
        )
    resolved_component = component.model_copy(
        update={
            "run": resolved_run,
            "name": op.name or component.name,
            "description": op.description or component.description,
            "tags": op.tags or component.tags,
        }
    )
    return CompiledBuild(
        operation=op,
        component=resolved_component,
        source_component=component,
        params=resolved,
        connections=catalog,
        dockerfiles=_render_dockerfiles(resolved_run),
        warnings=tuple(warnings),
        missing_connections=missing,
        termination=termination,
    )


def _resolved_params(
    loaded: Loaded[Operation],
    component: Component,
    params: Sequence[str] | Mapping[str, Any],
) -> dict[str, ResolvedParam]:
    """The component's inputs with the operation's params and the ``-P`` overrides."""
    op = loaded.model
    overrides = parse_overrides(params) if not isinstance(params, Mapping) else dict(params)
    if loaded.params_as_written is not None and loaded.params_as_written != op.params:
        # Polyaxon checks the params as written (a YAML date is no image), then compiles the
        # stored JSON form (where an infinite float has become null).
        resolve_params(component, merge_overrides(loaded.params_as_written, overrides))
    return resolve_params(component, merge_overrides(op.params, overrides))


def _patched_run(op: Operation, component: Component) -> dict[str, Any]:
    """The component's run with the operation's ``runPatch`` applied (as plain data)."""
    run = component.run.to_polyaxon()
    if op.run_patch is not None:
        patch = op.run_patch.to_polyaxon()
        patch.pop("kind", None)
        run = patch_run(run, patch, op.patch_strategy or PatchStrategy.POST_MERGE)
    return run


def _resolved_run(
    run: dict[str, Any],
    names: tuple[str, str],
    resolved: dict[str, ResolvedParam],
    catalog: ConnectionCatalog,
) -> tuple[JobRun, dict[str, Any]]:
    """The run with every template resolved and validated, and the template context used."""
    # Polyaxon resolves the connection names first, then the whole run with them in context.
    base_context = _template_context(names, resolved, catalog, {})
    if "connections" in run:
        written = run["connections"]
        run["connections"] = render_value(written, base_context, "run.connections")
        _check_connection_names(written, run["connections"])
    init_params = [p.init_entry() for p in resolved.values() if p.to_init]
    if any(init_params):
        run["init"] = [*(i for i in init_params if i), *(run.get("init") or [])]
    context = _template_context(names, resolved, catalog, run)
    resolved_data = resolve_run(run, context)
    try:
        resolved_run = validate_model(JobRun, resolved_data, prefix=("run",))
    except SpecError as exc:
        hint = _read_as_literal(exc, run, resolved_data)
        if hint is None:
            raise
        raise SpecError(hint, path=exc.path) from exc
    return resolved_run, context


_MISSING = object()


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return data


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean `{value}`"
    if isinstance(value, (int, float)):
        return f"the number `{value}`"
    if value is None:
        return "`None` (no value)"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _read_as_literal(exc: SpecError, written: Any, resolved: Any) -> str | None:
    """For a run field that needs text but got a number, boolean or list that Polyaxon's
    template pass read out of the text written there: what happened, and how to keep it text.
    Polyaxon refuses these too, with only "input should be a valid string"."""
    cause = exc.__cause__
    if not isinstance(cause, ValidationError) or not cause.errors():
        return None
    first = cause.errors()[0]
    if first["type"] != "string_type":
        return None
    path = problem_path(JobRun, first)
    before, after = _at(written, path), _at(resolved, path)
    if not isinstance(before, str) or isinstance(after, str) or after is _MISSING:
        return None
    hint = (
        f"`{before}` is read as {_kind_of(after)}, but this field needs text: after templating,"
        " Polyaxon reads every text in a run as a Python literal when it is one. To keep it"
        " text, quote it inside the string"
    )
    if '"' not in before and "\\" not in before:
        hint += f', e.g. `"{before!r}"`'
    pair = _at(written, path[:-1])
    if len(path) >= 3 and path[-3] == "env" and isinstance(pair, list) and len(pair) == 2:
        hint += (
            f"; or write env as a mapping, `env: {{{pair[0]}: {before}}}`, which takes numbers"
            " and booleans as they are"
        )
    more = re.search(r" \(and \d+ more problems?\)$", exc.message)
    return hint + (more.group() if more else "")


def _connection_names(run: JobRun) -> list[str]:
    return list(run.connections) if isinstance(run.connections, list) else []


def _render_dockerfiles(run: JobRun) -> tuple[RenderedDockerfile, ...]:
    rendered = []
    for index, init in enumerate(run.init if isinstance(run.init, list) else []):
        if isinstance(init.dockerfile, DockerfileInit):
            rendered.append(
                RenderedDockerfile(
                    filename=init.dockerfile.dockerfile_name,
                    text=render_dockerfile(init.dockerfile),
                    init_index=index,
                    context_path=init.path or ARTIFACTS_PATH,
                )
            )
        elif isinstance(init.dockerfile, str):
            raise SpecError(
                "the dockerfile init did not resolve to a mapping",
                path=f"run.init[{index}].dockerfile",
            )
    if not rendered:
        # A user's own Dockerfile: Polyaxon writes a `file` init into the context, where Kaniko
        # finds a file named `Dockerfile` by default.
        for index, init in enumerate(run.init if isinstance(run.init, list) else []):
            if isinstance(init.file, FileInit) and init.file.filename == OWN_DOCKERFILE:
                rendered.append(
                    RenderedDockerfile(
                        filename=OWN_DOCKERFILE,
                        text=init.file.content,
                        init_index=index,
                        context_path=init.path or ARTIFACTS_PATH,
                    )
                )
                break
    return tuple(rendered)


def _check_connection_names(written: Any, resolved: Any) -> None:
    # Polyaxon fails here with a bare type error on `connections: [None]`; say what is missing.
    if not isinstance(resolved, list) or not isinstance(written, list):
        return
    for index, (template, name) in enumerate(zip(written, resolved, strict=False)):
        if name is None or name == "":
            raise SpecError(
                f"`{template}` resolved to nothing: give the param a connection, e.g."
                " `destination: {value: org/image, connection: my-registry}`"
                " (and add `my-registry` to your connections catalog)",
                path=f"run.connections[{index}]",
            )


def _resolve_param_templates(
    names: tuple[str, str | None], params: dict[str, ResolvedParam], catalog: ConnectionCatalog
) -> dict[str, ResolvedParam]:
    """Param values that are themselves templates, rendered against the other params and
    globals, as Polyaxon does before it substitutes them."""
    context = _template_context(names, params, catalog, {})
    out = dict(params)
    for name, param in params.items():
        if isinstance(param.value, str) and ("{{" in param.value or "{%" in param.value):
            value = render_value(param.value, context, f"params.{name}")
            out[name] = dataclasses.replace(param, value=value)
    return out


def _check_destination_connections(
    params: Mapping[str, ResolvedParam], catalog: ConnectionCatalog
) -> None:
    for param in params.values():
        if param.type != "image" or not param.connection:
            continue
        connection = catalog.get(param.connection)
        if connection is not None and connection.kind != "registry":
            raise SpecError(
                f"param `{param.name}` pushes through connection `{connection.name}`, which is a"
                f" `{connection.kind}` connection: an image destination needs a `registry` connection",
                path=f"params.{param.name}.connection",
            )


def _resolve_termination(
    termination: Termination | str | None, context: Mapping[str, Any]
) -> Termination | None:
    if termination is None:
        return None
    data = termination if isinstance(termination, str) else termination.to_polyaxon()
    return validate_model(
        Termination, render_value(data, context, "termination"), prefix=("termination",)
    )


def compiled_component(build: CompiledBuild) -> dict[str, Any]:
    """The compiled component as Polyaxon writes it, with each input's resolved value."""
    data = build.component.to_polyaxon()
    for section in ("inputs", "outputs"):
        for io in data.get(section, []):
            param = build.params.get(io["name"])
            if param is not None and param.value is not None:
                io["value"] = param.value
                if param.connection:
                    io["connection"] = param.connection
    return data
