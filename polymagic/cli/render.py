"""``polymagic render``: the Dockerfile, the compiled component and the Kubernetes objects, as
text for a person or JSON for a program; also what ``build`` shows when it cannot submit.

What a person reads is what runs: the labelled listing (``render``, ``build --dry-run``) shows
every control, format and invisible character of a Dockerfile as an escape
(:func:`polymagic.printable.visible`: ``\\x1b``, ``\\x0d``, ``\\u202e``), so a ``\\r`` or an
erase-line sequence cannot make a line look harmless, and a Dockerfile holding any gets a
warning naming the line on stderr. One part alone (``--only dockerfile``) is an artefact when
redirected (``> Dockerfile``): written byte for byte then, escaped only on a terminal. JSON and
YAML escape such characters themselves (``\\u001b``, ``\\e``), keeping the exact value.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, TextIO

from polymagic.app.arguments import build_options
from polymagic.app.preview import lint_dockerfiles, manifests_for
from polymagic.cli.common import context_base, read_source
from polymagic.config import compile_with_connections, find_connections
from polymagic.errors import SpecError, one_line
from polymagic.printable import has_hidden, visible
from polymagic.render.build_objects import BuildManifests
from polymagic.render.compiler import CompiledBuild, compiled_component
from polymagic.render.context import PackedContext, pack_build_context
from polymagic.render.options import BuildOptions
from polymagic.render.pod_fields import check_pod_fields, pod_field_lines
from polymagic.spec.yamltext import dump_yaml, dump_yaml_all

__all__ = ["render", "render_everything"]


def _compile(
    args: argparse.Namespace,
) -> tuple[CompiledBuild, BuildManifests | None, list[str], list[str]]:
    """The build, its manifests (when shown), its warnings, and what the pod's widening fields
    are (with whether they are allowed)."""
    source = find_connections(args.connections)
    build = compile_with_connections(read_source(args.file), source, params=args.params)
    warnings = list(build.warnings)
    manifests = None
    pod_lines: list[str] = []
    if args.only in (None, "manifests"):
        options = build_options(args, context_dir=context_base(args))
        packed = pack_build_context(build, context_base(args))
        manifests = manifests_for(build, options, packed)
        warnings += manifests.warnings
        pod_lines = _pod_lines(manifests, options)
    return build, manifests, warnings, pod_lines


def _pod_lines(manifests: BuildManifests, options: BuildOptions) -> list[str]:
    return pod_field_lines(
        manifests.pod, options.allowed_pod_fields, service_account=options.kaniko.service_account
    )


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


def _dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return dump_yaml(data)


def _one_line(text: str) -> str:
    return visible(text).replace("\n", "\\n")


def render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    build, manifests, warnings, pod_lines = _compile(args)
    for warning in warnings:
        err.write(f"polymagic: warning: {_one_line(warning)}\n")
    for line in pod_lines:
        err.write(f"polymagic: warning: pod field {_one_line(line)}\n")
    linted = lint_dockerfiles(build, context_base(args)) if args.lint else []
    for each in linted:
        for finding in each.findings:
            err.write(f"polymagic: lint: {_one_line(each.rendered.filename)}: {finding}\n")
    said = {id(each.rendered) for each in linted if any(f.code == "PM007" for f in each.findings)}
    for rendered in build.dockerfiles:  # hidden characters are always said, lint or not
        if id(rendered) not in said and has_hidden(rendered.text):
            # Imported only then: rendering without --lint stays without the linter.
            from polymagic.render.lint import hidden_character_findings

            for finding in hidden_character_findings(rendered.text):
                err.write(f"polymagic: warning: {_one_line(rendered.filename)}: {finding}\n")
    if args.only == "dockerfile":
        if not build.dockerfiles:
            raise SpecError(
                "the operation has no `dockerfile` init to render", path="runPatch.init"
            )
        text = build.dockerfiles[0].text
        out.write(visible(text) if _is_terminal(out) else text)
        return 0
    if args.only == "component":
        out.write(_dump(compiled_component(build), args.output))
        return 0
    objects = manifests.objects() if manifests else []
    if args.only == "manifests":
        if args.output == "json":
            out.write(_dump(objects, "json"))
        else:
            out.write(dump_yaml_all(objects))
        return 0
    context = manifests.context if manifests else None
    _render_all(build, objects, args.output, out, context, pod_lines)
    return 0


def render_everything(
    build: CompiledBuild, options: BuildOptions, out: TextIO, context: PackedContext | None
) -> None:
    """Dockerfile(s), compiled component and Kubernetes objects, labelled, as YAML; then
    :class:`~polymagic.render.pod_fields.PodFieldRefused` when the submission would be refused
    for a widening pod field (a dry run fails where the build would)."""
    manifests = manifests_for(build, options, context)
    _render_all(build, manifests.objects(), "yaml", out, context, _pod_lines(manifests, options))
    check_pod_fields(
        manifests.pod, options.allowed_pod_fields, service_account=options.kaniko.service_account
    )


def _render_all(
    build: CompiledBuild,
    objects: list[dict[str, Any]],
    fmt: str,
    out: TextIO,
    context: PackedContext | None = None,
    pod_lines: Sequence[str] = (),
) -> None:
    if fmt == "json":
        everything: dict[str, Any] = {
            "dockerfiles": [
                {"path": f"{d.context_path}/{d.filename}", "init": d.init_index, "text": d.text}
                for d in build.dockerfiles
            ],
            "component": compiled_component(build),
        }
        if context is not None:
            everything["context"] = {
                "size": context.size,
                "sha256": context.sha256,
                "entries": [asdict(entry) for entry in context.top_level],
                "left_out": list(context.left_out),
            }
        if pod_lines:
            everything["widening_pod_fields"] = list(pod_lines)
        everything["manifests"] = objects
        out.write(_dump(everything, "json"))
        return
    for d in build.dockerfiles:
        where = _one_line(f"{d.context_path}/{d.filename}")
        out.write(f"# ---- Dockerfile: {where} (run.init[{d.init_index}]) ----\n")
        out.write(visible(d.text))
    out.write(f"# ---- Component: {build.component.name} (compiled) ----\n")
    out.write(_dump(compiled_component(build), "yaml"))
    if context is not None:
        # Names and sizes only: the files themselves may be anything.
        out.write(
            f"# ---- Build context: {len(context.files)} entries,"
            f" {context.size} bytes compressed (in the ConfigMap) ----\n"
        )
        out.writelines(f"#   {visible(one_line(line))}\n" for line in context.listing())
        if context.left_out:
            shown = ", ".join(context.left_out[:10])
            more = f" and {len(context.left_out) - 10} more" if len(context.left_out) > 10 else ""
            out.write(f"#   left out (may hold secrets): {visible(one_line(shown))}{more}\n")
    if pod_lines:
        out.write("# ---- Pod fields that widen what the build can reach ----\n")
        out.writelines(f"#   {_one_line(line)}\n" for line in pod_lines)
    out.write("# ---- Kubernetes objects ----\n")
    out.write(dump_yaml_all(objects))
