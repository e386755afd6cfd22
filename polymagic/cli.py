"""The ``polymagic`` command line: argument parsing, output formats and exit codes.

Glue only: every command calls the same functions the notebook uses. Data goes to stdout,
warnings and errors to stderr; bad input exits with status 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from io import BytesIO
from pathlib import Path
from typing import Any, TextIO

from polymagic import __version__
from polymagic.compiler import CompiledBuild
from polymagic.config import (
    CONNECTIONS_ENV,
    compile_with_connections,
    find_connections,
    user_config_dir,
)
from polymagic.context import PackedContext, pack_build_context
from polymagic.errors import PolymagicError, SpecError, one_line
from polymagic.freeze_command import add_freeze_arguments, freeze_interpreter, write_requirements
from polymagic.lint import Finding, lint_dockerfile
from polymagic.loader import read_spec_stream
from polymagic.manifests import DEFAULT_TIMEOUT, BuildManifests, KanikoOptions, build_manifests
from polymagic.models import DockerfileInit
from polymagic.params import parse_pairs
from polymagic.printable import printable
from polymagic.yamltext import dump_yaml, dump_yaml_all

__all__ = ["main"]

EXIT_BAD_INPUT = 2


def _connections_help() -> str:
    return (
        "connections come from, in order: --connections FILE; $"
        f"{CONNECTIONS_ENV} (a file path or the YAML list itself); "
        f"{user_config_dir() / 'connections.yaml'}; else none"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polymagic",
        description="Render and build Polyaxon build operations (dockerfile init + kaniko) on Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"polymagic {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    render = commands.add_parser(
        "render",
        help="show the Dockerfile, the compiled component and the Kubernetes objects",
        description="Compile an operation and print what polymagic would submit. "
        + _connections_help(),
    )
    render.add_argument("file", metavar="FILE", help="the operation YAML file ('-' for stdin)")
    _add_spec_options(render)
    render.add_argument(
        "--only", choices=("dockerfile", "component", "manifests"), help="print one part only"
    )
    render.add_argument(
        "-o", "--output", choices=("yaml", "json"), default="yaml", help="output format"
    )
    _add_kaniko_options(render)
    render.add_argument("--lint", action="store_true", help="also print lint findings (to stderr)")
    render.add_argument(
        "--context",
        metavar="DIR",
        help="build context folder for the COPY checks (default: the file's folder)",
    )

    build = commands.add_parser(
        "build",
        help="build and push the image on Kubernetes, following it until the digest",
        description=(
            "Compile, check, submit and follow a build. The kubeconfig comes from $KUBECONFIG"
            " (else ~/.kube/config, else the in-cluster service account). Progress and logs go"
            " to stderr; on success the last line on stdout is the pushed image@digest. "
            + _connections_help()
        ),
    )
    build.add_argument("file", metavar="FILE", help="the operation YAML file ('-' for stdin)")
    _add_spec_options(build, namespace_default=None)
    build.add_argument(
        "--dry-run", action="store_true", help="show what would be submitted; submit nothing"
    )
    build.add_argument(
        "--keep", action="store_true", help="leave the pod and ConfigMap on the cluster afterwards"
    )
    build.add_argument("--quiet", action="store_true", help="no executor log lines, progress only")
    build.add_argument(
        "--timeout", type=float, default=3600, metavar="S", help="overall deadline (default 3600)"
    )
    build.add_argument(
        "--start-timeout",
        type=float,
        default=600,
        metavar="S",
        help="deadline for the pod to start (default 600)",
    )
    build.add_argument(
        "--stuck-grace",
        type=float,
        default=30,
        metavar="S",
        help="fail a pod stuck in ImagePullBackOff/FailedMount/Unschedulable after this (default 30)",
    )
    build.add_argument(
        "--log-idle-timeout",
        type=float,
        default=None,
        metavar="S",
        help="fail when the executor prints nothing for this long",
    )
    build.add_argument(
        "--context",
        metavar="DIR",
        help="folder that COPY sources come from (default: the operation file's folder)",
    )
    build.add_argument(
        "--force",
        action="store_true",
        help="build even if the registry already holds an image of this spec",
    )
    _add_kaniko_options(build)

    for name, text in (
        ("status", "show a build's state"),
        ("logs", "print a build's executor log"),
        ("cancel", "stop a build and delete its pod and ConfigMap"),
    ):
        command = commands.add_parser(
            name, help=text, description=text + " (by build name, from any process)"
        )
        command.add_argument("name", metavar="NAME", help="the build name (see `polymagic list`)")
        command.add_argument("--namespace", help="namespace (default: the kubeconfig context's)")
        if name == "logs":
            command.add_argument(
                "-f", "--follow", action="store_true", help="keep printing until the build ends"
            )
    listing = commands.add_parser(
        "list", help="list polymagic builds", description="List polymagic builds (found by label)."
    )
    listing.add_argument("--namespace", help="namespace (default: the kubeconfig context's)")
    listing.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")

    frozen = commands.add_parser(
        "freeze",
        help="pin this interpreter's packages into requirements.txt and a build operation",
        description=(
            "Write the installed distributions of this Python (pinned; the notebook tooling left"
            " out) to a requirements file in the build context, and print an operation that builds"
            " an image installing them. What cannot be installed from a package index (editable"
            " or local installs) is listed as a comment and a warning, never dropped silently."
        ),
    )
    add_freeze_arguments(frozen)
    frozen.add_argument(
        "--context",
        metavar="DIR",
        default=".",
        help="the build context folder the requirements file goes into (default: .)",
    )
    frozen.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the operation to FILE instead of stdout (not over an existing file without --force)",
    )

    rbac = commands.add_parser(
        "rbac",
        help="print the least-privilege Role and RoleBinding that polymagic needs",
        description=(
            "Print a Role with exactly the permissions polymagic uses in a namespace (what its"
            " preflight checks) and a RoleBinding to a service account, for `kubectl apply -f -`."
            " The registry secrets of the connections catalog (or --secret) get `get` by name."
        ),
    )
    rbac.add_argument("--namespace", help="namespace (default: the kubeconfig context's)")
    rbac.add_argument(
        "--service-account",
        default="polymagic",
        metavar="NAME",
        help="the service account to bind (default: polymagic)",
    )
    rbac.add_argument("--connections", metavar="FILE", help="connections catalog (YAML list)")
    rbac.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME",
        help="another secret polymagic may read (repeatable)",
    )
    return parser


def _freeze(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.imported:
        raise SpecError(
            "--imported needs a running notebook kernel (what its code imported): use"
            " `%polybuild freeze --imported` there; on the command line, freeze everything or"
            " --exclude what the image does not need",
            path="imported",
        )
    frozen = freeze_interpreter(args, Path(args.context))
    if args.output:
        output = Path(args.output)
        if output.exists() and not args.force:
            raise SpecError(f"{output} already exists: pass --force to overwrite it")
    write_requirements(frozen, force=args.force)
    if args.output:
        output.write_text(frozen.result.operation, encoding="utf-8")
    else:
        out.write(frozen.result.operation)
    err.write(f"polymagic: wrote {frozen.requirements_path}: {frozen.result.summary()}\n")
    for warning in frozen.result.warnings:
        err.write(f"polymagic: warning: {warning}\n")
    return 0


def _rbac(args: argparse.Namespace, out: TextIO) -> int:
    from polymagic.kube_names import check_namespace
    from polymagic.permissions import rbac_objects

    namespace = args.namespace
    if not namespace:
        from polymagic.cluster import connect
        from polymagic.errors import ClusterConfigError

        try:
            cluster = connect()
        except ClusterConfigError:
            namespace = "default"
        else:
            namespace = cluster.namespace
            cluster.close()
    check_namespace(namespace)
    catalog = find_connections(args.connections).catalog
    secrets = [c.secret.name for c in catalog.connections if c.secret is not None]
    objects = rbac_objects(namespace, args.service_account, [*secrets, *args.secret])
    out.write(dump_yaml_all(objects))
    return 0


def _add_kaniko_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "executor options (added to the pod; the compiled component stays Polyaxon's)"
    )
    group.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Dockerfile build arg (repeatable)",
    )
    group.add_argument("--target", help="the Dockerfile stage to build")
    group.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="REF",
        help="another destination: a full reference or :tag (repeatable)",
    )
    group.add_argument(
        "--reproducible", action="store_true", help="strip timestamps from the image"
    )
    group.add_argument("--snapshot-mode", choices=("full", "redo", "time"))
    group.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST",
        help="reach this registry over plain HTTP (repeatable)",
    )
    group.add_argument(
        "--skip-tls-verify-registry",
        action="append",
        default=[],
        metavar="HOST",
        help="do not verify this registry's certificate (repeatable)",
    )
    group.add_argument("--cache-repo", metavar="REPO", help="where Kaniko keeps cached layers")
    group.add_argument(
        "--no-hash-tag", action="store_true", help="do not also push <repository>:spec-<hash>"
    )
    group.add_argument("--cpu", help="CPU request and limit of the executor, e.g. 2")
    group.add_argument("--memory", help="memory request and limit of the executor, e.g. 4Gi")
    group.add_argument(
        "--node-selector",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="schedule on matching nodes (repeatable)",
    )
    group.add_argument("--service-account", help="service account of the build pod")


def kaniko_options(args: argparse.Namespace) -> KanikoOptions:
    """The executor options given on the command line."""
    resources: dict[str, Any] | None = None
    amounts = {k: v for k, v in (("cpu", args.cpu), ("memory", args.memory)) if v}
    if amounts:
        resources = {"requests": dict(amounts), "limits": dict(amounts)}
    return KanikoOptions(
        build_args=parse_pairs(args.build_arg, "build arg"),
        target=args.target,
        tags=tuple(args.tag),
        reproducible=args.reproducible,
        snapshot_mode=args.snapshot_mode,
        insecure_registries=tuple(args.insecure_registry),
        skip_tls_verify_registries=tuple(args.skip_tls_verify_registry),
        cache_repo=args.cache_repo,
        hash_tag=not args.no_hash_tag,
        resources=resources,
        node_selector=dict(parse_pairs(args.node_selector, "node selector")) or None,
        service_account=args.service_account,
    )


def _add_spec_options(
    parser: argparse.ArgumentParser, namespace_default: str | None = "default"
) -> None:
    parser.add_argument(
        "-P",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a param's value (repeatable)",
    )
    parser.add_argument("--connections", metavar="FILE", help="connections catalog (YAML list)")
    parser.add_argument(
        "--namespace",
        default=namespace_default,
        help="namespace written into the manifests"
        + (" (default: default)" if namespace_default else " (default: the kubeconfig context's)"),
    )
    parser.add_argument(
        "--executor-image",
        metavar="IMAGE",
        help="run this Kaniko executor image instead of the component's",
    )


def read_source(file: str) -> str | Path:
    """The operation: stdin's text for ``-`` (bounded, UTF-8), else the path, read later by
    the loader with the same checks (a regular file, bounded, UTF-8)."""
    if file == "-":
        # A stdin replaced by a text stream (tests, embedding) has no bytes to decode.
        stream = getattr(sys.stdin, "buffer", None) or BytesIO(sys.stdin.read().encode())
        text = read_spec_stream(stream)
        return text if "\n" in text else text + "\n"  # text, never taken for a file name
    return Path(file)


def _compile(args: argparse.Namespace) -> tuple[CompiledBuild, BuildManifests | None, list[str]]:
    source = find_connections(args.connections)
    build = compile_with_connections(read_source(args.file), source, params=args.params)
    warnings = list(build.warnings)
    manifests = None
    if args.only in (None, "manifests"):
        manifests = build_manifests(
            build,
            namespace=args.namespace,
            executor_image=args.executor_image,
            kaniko=kaniko_options(args),
            context=pack_build_context(build, context_base(args)),
        )
        warnings += manifests.warnings
    return build, manifests, warnings


def context_base(args: argparse.Namespace) -> Path:
    """Where COPY sources come from: --context, else the operation file's folder."""
    if args.context:
        return Path(args.context)
    return Path(args.file).resolve().parent if args.file != "-" else Path.cwd()


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


def _dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return dump_yaml(data)


def _lint(build: CompiledBuild, context: Path) -> list[Finding]:
    findings: list[Finding] = []
    inits = build.run.init if isinstance(build.run.init, list) else []
    for rendered in build.dockerfiles:
        spec = inits[rendered.init_index].dockerfile
        if isinstance(spec, DockerfileInit):
            findings += lint_dockerfile(spec, rendered.text, context_dir=context)
    return findings


def _render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    build, manifests, warnings = _compile(args)
    for warning in warnings:
        err.write(f"polymagic: warning: {warning}\n")
    if args.lint:
        base = context_base(args)
        for finding in _lint(build, base):
            err.write(f"polymagic: lint: {build.dockerfiles[0].filename}: {finding}\n")
    if args.only == "dockerfile":
        if not build.dockerfiles:
            raise SpecError(
                "the operation has no `dockerfile` init to render", path="runPatch.init"
            )
        out.write(build.dockerfiles[0].text)
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
    _render_all(build, objects, args.output, out, manifests.context if manifests else None)
    return 0


def render_everything(
    build: CompiledBuild,
    namespace: str,
    executor_image: str | None,
    out: TextIO,
    kaniko: KanikoOptions | None = None,
    context: PackedContext | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Dockerfile(s), compiled component and Kubernetes objects, labelled, as YAML."""
    manifests = build_manifests(
        build,
        namespace=namespace,
        executor_image=executor_image,
        kaniko=kaniko,
        context=context,
        timeout=timeout,
    )
    _render_all(build, manifests.objects(), "yaml", out, context)


def _render_all(
    build: CompiledBuild,
    objects: list[dict[str, Any]],
    fmt: str,
    out: TextIO,
    context: PackedContext | None = None,
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
        everything["manifests"] = objects
        out.write(_dump(everything, "json"))
        return
    for d in build.dockerfiles:
        out.write(
            f"# ---- Dockerfile: {d.context_path}/{d.filename} (run.init[{d.init_index}]) ----\n"
        )
        out.write(d.text)
    out.write(f"# ---- Component: {build.component.name} (compiled) ----\n")
    out.write(_dump(compiled_component(build), "yaml"))
    if context is not None:
        # Names and sizes only: the files themselves may be anything.
        out.write(
            f"# ---- Build context: {len(context.files)} entries,"
            f" {context.size} bytes compressed (in the ConfigMap) ----\n"
        )
        out.writelines(f"#   {one_line(line)}\n" for line in context.listing())
        if context.left_out:
            shown = ", ".join(context.left_out[:10])
            more = f" and {len(context.left_out) - 10} more" if len(context.left_out) > 10 else ""
            out.write(f"#   left out (may hold secrets): {one_line(shown)}{more}\n")
    out.write("# ---- Kubernetes objects ----\n")
    out.write(dump_yaml_all(objects))


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command line; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    try:
        if args.command == "render":
            return _render(args, out, err)
        if args.command == "rbac":
            return _rbac(args, out)
        if args.command == "freeze":
            return _freeze(args, out, err)
        from polymagic import cli_cluster

        return cli_cluster.run(args, out, err)
    except PolymagicError as exc:
        err.write(f"polymagic: error: {flat_message(exc)}\n")
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader went away (`polymagic render ... | head`): stop quietly, like other tools.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (flushing at exit must not fail)
        return 0


def flat_message(exc: Exception) -> str:
    """An error's message on one line (for stderr), safe to print whatever it quotes."""
    return printable(" ".join(str(exc).split()))


if __name__ == "__main__":
    sys.exit(main())
