"""The ``polymagic`` command line: argument parsing, output formats and exit codes.

Glue only: every command calls the same functions the notebook uses. Data goes to stdout,
warnings and errors to stderr; bad input exits with status 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from polymagic._version import __version__
from polymagic.app.freeze_command import (
    add_freeze_arguments,
    freeze_interpreter,
    write_requirements,
)
from polymagic.cli.common import flat_message
from polymagic.cli.render import render
from polymagic.config import (
    CONNECTIONS_ENV,
    find_connections,
    user_config_dir,
)
from polymagic.errors import PolymagicError, UsageError
from polymagic.spec.yamltext import dump_yaml_all

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
        raise UsageError(
            "--imported needs a running notebook kernel (what its code imported): use"
            " `%polybuild freeze --imported` there; on the command line, freeze everything or"
            " --exclude what the image does not need"
        )
    frozen = freeze_interpreter(args, Path(args.context))
    if args.output:
        output = Path(args.output)
        if output.exists() and not args.force:
            raise UsageError(f"{output} already exists: pass --force to overwrite it")
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
    from polymagic.render.kube_names import check_namespace
    from polymagic.render.permissions import rbac_objects

    namespace = args.namespace
    if not namespace:
        from polymagic.errors import ClusterConfigError
        from polymagic.kube.client import connect

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


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command line; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    try:
        if args.command == "render":
            return render(args, out, err)
        if args.command == "rbac":
            return _rbac(args, out)
        if args.command == "freeze":
            return _freeze(args, out, err)
        from polymagic.cli import cluster as cli_cluster

        return cli_cluster.run(args, out, err)
    except PolymagicError as exc:
        err.write(f"polymagic: error: {flat_message(exc)}\n")
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader went away (`polymagic render ... | head`): stop quietly, like other tools.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (flushing at exit must not fail)
        return 0


if __name__ == "__main__":
    sys.exit(main())
