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
from typing import TextIO, TypeAlias

from polymagic._version import __version__
from polymagic.app.arguments import (
    BUILD_OPTIONS,
    CONNECTIONS,
    CONTEXT,
    EXECUTOR_IMAGE,
    EXECUTOR_OPTIONS,
    NAMESPACE,
    PARAMS,
    add_options,
    option,
)
from polymagic.app.freeze_command import (
    FREEZE_OPTIONS,
    freeze_interpreter,
    write_requirements,
)
from polymagic.app.pod_fields import ALLOW_POD_FIELD
from polymagic.cli.common import flat_message
from polymagic.config import (
    CONNECTIONS_ENV,
    find_connections,
    user_config_dir,
)
from polymagic.errors import PolymagicError, UsageError
from polymagic.printable import printable
from polymagic.render.permissions import PODS_CREATE_IMPLIES

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
    _add_render(commands)
    _add_build(commands)
    _add_by_name(commands)
    _add_freeze(commands)
    _add_rbac(commands)
    _add_trust(commands)
    _add_inspect(commands)
    _add_sbom(commands)
    return parser


_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
_FILE = option("file", metavar="FILE", help="the operation YAML file ('-' for stdin)")
_BY_NAME_NAMESPACE = NAMESPACE.but(help="namespace (default: the kubeconfig context's)")


def _add_render(commands: _Commands) -> None:
    render = commands.add_parser(
        "render",
        help="show the Dockerfile, the compiled component and the Kubernetes objects",
        description="Compile an operation and print what polymagic would submit. "
        + _connections_help(),
    )
    add_options(
        render,
        _FILE,
        PARAMS,
        CONNECTIONS,
        NAMESPACE.but(
            default="default", help="namespace written into the manifests (default: default)"
        ),
        EXECUTOR_IMAGE,
        option(
            "--only", choices=("dockerfile", "component", "manifests"), help="print one part only"
        ),
        option("-o", "--output", choices=("yaml", "json"), default="yaml", help="output format"),
        EXECUTOR_OPTIONS,
        option("--lint", action="store_true", help="also print lint findings (to stderr)"),
        ALLOW_POD_FIELD,
        CONTEXT.but(help="build context folder for the COPY checks (default: the file's folder)"),
    )


def _add_build(commands: _Commands) -> None:
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
    add_options(
        build,
        _FILE,
        *BUILD_OPTIONS,
        option("--quiet", action="store_true", help="no executor log lines, progress only"),
        CONTEXT,
        EXECUTOR_OPTIONS,
        ALLOW_POD_FIELD,
    )


def _add_by_name(commands: _Commands) -> None:
    for name, text in (
        ("status", "show a build's state"),
        ("logs", "print a build's executor log"),
        ("cancel", "stop a build and delete its pod and ConfigMap"),
    ):
        command = commands.add_parser(
            name, help=text, description=text + " (by build name, from any process)"
        )
        command.add_argument("name", metavar="NAME", help="the build name (see `polymagic list`)")
        add_options(command, _BY_NAME_NAMESPACE)
        if name == "logs":
            command.add_argument(
                "-f", "--follow", action="store_true", help="keep printing until the build ends"
            )
    listing = commands.add_parser(
        "list", help="list polymagic builds", description="List polymagic builds (found by label)."
    )
    add_options(listing, _BY_NAME_NAMESPACE)
    listing.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")


def _add_freeze(commands: _Commands) -> None:
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
    add_options(
        frozen,
        *FREEZE_OPTIONS,
        CONTEXT.but(
            default=".",
            help="the build context folder the requirements file goes into (default: .)",
        ),
        option(
            "-o",
            "--output",
            metavar="FILE",
            help="write the operation to FILE instead of stdout (not over an existing file without --force)",
        ),
    )


class _WholeWordsFormatter(argparse.HelpFormatter):
    """Help text wrapped between words only: a label such as `pod-security.kubernetes.io/enforce`
    must stay whole to be copied."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        text = self._whitespace_matcher.sub(" ", text).strip()
        return textwrap.fill(
            text, width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
        )


def _add_rbac(commands: _Commands) -> None:
    rbac = commands.add_parser(
        "rbac",
        formatter_class=_WholeWordsFormatter,
        help="print the least-privilege Role and RoleBinding that polymagic needs",
        description=(
            "Print a Role with exactly the permissions polymagic uses in a namespace (what its"
            " preflight checks) and a RoleBinding to a service account, for `kubectl apply -f -`."
            " The registry secrets of the connections catalog (or --secret) get `get` by name."
            f" Note: {PODS_CREATE_IMPLIES}."
        ),
    )
    add_options(
        rbac,
        _BY_NAME_NAMESPACE,
        option(
            "--service-account",
            default="polymagic",
            metavar="NAME",
            help="the service account to bind (default: polymagic)",
        ),
        CONNECTIONS,
        option(
            "--secret",
            action="append",
            default=[],
            metavar="NAME",
            help="another secret polymagic may read (repeatable)",
        ),
    )


def _add_trust(commands: _Commands) -> None:
    trust = commands.add_parser(
        "trust",
        help="let a project's pyproject.toml choose the executor image, catalog and namespace",
        description=(
            "A project's [tool.polymagic] table may set the settings that decide which image or"
            " Secret a build uses (executor_image, connections_file, namespace) only once you"
            " trust that file: this records its path and content hash in your config folder."
            " A changed file needs trusting again; until then those settings are ignored, with"
            " a warning."
        ),
    )
    trust.add_argument(
        "path",
        nargs="?",
        default=".",
        metavar="PATH",
        help="the project's folder or its pyproject.toml (default: .)",
    )


def _add_inspect(commands: _Commands) -> None:
    from polymagic.app.inspect_image import INSPECT_OPTIONS

    inspect = commands.add_parser(
        "inspect",
        help="show what an image in a registry says about itself (manifest, config, annotations)",
    )
    add_options(inspect, *INSPECT_OPTIONS)


def _add_sbom(commands: _Commands) -> None:
    from polymagic.app.sbom_command import SBOM_OPTIONS

    sbom = commands.add_parser(
        "sbom", help="the exact SBOM (CycloneDX 1.6) of an image in a registry, from its layers"
    )
    add_options(sbom, *SBOM_OPTIONS)


def _trust(args: argparse.Namespace, out: TextIO) -> int:
    from polymagic.app.settings import trust_project_file, trusted_files_path

    path, digest = trust_project_file(Path(args.path))
    out.write(f"trusted {path} (sha256 {digest[:16]}…), recorded in {trusted_files_path()}\n")
    return 0


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
        err.write(f"polymagic: warning: {printable(warning)}\n")
    return 0


def _rbac(args: argparse.Namespace, out: TextIO) -> int:
    from polymagic.render.kube_names import check_namespace, check_object_name
    from polymagic.render.permissions import rbac_objects
    from polymagic.spec.yamltext import dump_yaml_all

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
    secrets = []
    for connection in catalog.connections:
        if connection.secret is not None:
            where = f"connection `{connection.name}`: secret.name"
            check_object_name(connection.secret.name, "secret", where)
            secrets.append(connection.secret.name)
    objects = rbac_objects(namespace, args.service_account, [*secrets, *args.secret])
    out.write(dump_yaml_all(objects))
    return 0


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command line; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    try:
        if args.command == "render":
            # Each command imports what it needs: `--help` and `--version` stay quick.
            from polymagic.cli.render import render

            return render(args, out, err)
        if args.command == "rbac":
            return _rbac(args, out)
        if args.command == "trust":
            return _trust(args, out)
        if args.command == "freeze":
            return _freeze(args, out, err)
        if args.command == "sbom":
            from polymagic.cli.sbom import sbom

            return sbom(args, out, err)
        if args.command == "inspect":
            from polymagic.cli.inspect import inspect

            return inspect(args, out, err)
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
