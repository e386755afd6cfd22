"""The cluster commands of the command line: ``build``, ``status``, ``logs``, ``cancel``, ``list``.

Kept apart from ``cli`` so that ``polymagic render`` never imports the Kubernetes client.
Exit codes: 0 success; 1 the build or the cluster failed; 2 bad input; 3 not submitted
because no cluster is configured; 130 cancelled (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from polymagic.app.workflow import connect_for, plan_build
from polymagic.cli.common import flat_message
from polymagic.cli.terminal import TerminalProgress
from polymagic.errors import (
    BuildCancelled,
    BuildError,
    ClusterConfigError,
    ClusterError,
    NotFoundError,
)
from polymagic.kube.client import Cluster, connect
from polymagic.kube.session import (
    BuildOptions,
    attach_build,
    build_image,
    cancel_build,
    find_builds,
)
from polymagic.outcome.status_text import REUSED, duration_text, no_builds_text
from polymagic.outcome.text import failure_lines
from polymagic.printable import printable
from polymagic.render.build_objects import CONTAINER_NAME

if TYPE_CHECKING:
    from polymagic.render.compiler import CompiledBuild

__all__ = ["run"]

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_CLUSTER = 3
EXIT_CANCELLED = 130


@contextmanager
def _sigterm_cancels() -> Iterator[None]:
    """SIGTERM (e.g. a CI job being stopped) cancels like Ctrl-C, so cleanup runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _build(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from polymagic.app.settings import read_settings
    from polymagic.cli.common import context_base, read_source
    from polymagic.cli.render import render_everything

    settings = read_settings()
    for warning in settings.warnings:
        err.write(f"polymagic: warning: {printable(warning)}\n")
    plan = plan_build(
        read_source(args.file),
        args,
        settings,
        context_dir=context_base(args),
        params=args.params,
    )
    for warning in plan.build.warnings:
        err.write(f"polymagic: warning: {printable(warning)}\n")
    for line in plan.settings_lines():
        err.write(f"polymagic: {printable(line)}\n")
    from polymagic.render.context import pack_build_context

    packed = pack_build_context(plan.build, context_base(args))
    if plan.no_cluster is not None or args.dry_run:
        # On the submit path these warnings arrive as the build's first progress events.
        for warning in packed.warnings if packed else ():
            err.write(f"polymagic: warning: {printable(warning)}\n")
        render_everything(plan.build, plan.options, out, packed)
        if args.dry_run:
            return 0
        err.write(f"polymagic: not submitted: {plan.no_cluster}\n")
        err.write(
            "polymagic: above is everything polymagic would submit; then run `polymagic build` again\n"
        )
        return EXIT_NO_CLUSTER
    cluster = connect_for(plan)
    try:
        return _submit_and_follow(args, cluster, plan.build, plan.namespace, plan.options, err, out)
    finally:
        cluster.close()


def _submit_and_follow(
    args: argparse.Namespace,
    cluster: Cluster,
    build: CompiledBuild,
    namespace: str,
    options: BuildOptions,
    err: TextIO,
    out: TextIO,
) -> int:
    progress = TerminalProgress(err, show_logs=not args.quiet)
    err.write(f"polymagic: building `{build.name}` in namespace `{namespace}` ({cluster.source})\n")
    from polymagic.app.attest import now_text

    started = now_text()
    try:
        with _sigterm_cancels():
            result = build_image(cluster, build, options, on_event=progress.on_event)
    except (BuildError, ClusterError) as exc:
        progress.close()
        # The summary, the fix, the pod's events and the last log lines, each made safe.
        err.write("".join(f"{line}\n" for line in failure_lines(exc)))
        return EXIT_CANCELLED if isinstance(exc, BuildCancelled) else EXIT_FAILED
    # The summary goes to stderr, before the one stdout line scripts read.
    progress.summary(result)
    took = REUSED if result.reused else f"built in {duration_text(result.duration)}"
    err.write(
        f"polymagic: {took} (spec {result.spec_hash[:12]}, executor {result.executor_image})\n"
    )
    from polymagic.app.attest import attest_result, destination_auth

    auth = destination_auth(cluster, build, result) if options.attest else None
    finished = now_text()
    for line in attest_result(
        result, build, options, started=started, finished=finished, auth=auth
    ):
        err.write(f"polymagic: {printable(line)}\n")
    out.write(result.image + "\n")
    return 0


def _with_cluster(args: argparse.Namespace) -> Cluster:
    return connect(namespace=getattr(args, "namespace", None))


def _status(args: argparse.Namespace, cluster: Cluster, out: TextIO) -> int:
    namespace = args.namespace or cluster.namespace
    found = find_builds(cluster, namespace, args.name)
    if not found:
        raise NotFoundError(args.name, namespace)
    status = found[0]
    out.write(
        f"name:         {status.name}\nnamespace:    {status.namespace}\nphase:        {printable(status.phase)}\n"
    )
    out.write(
        f"detail:       {printable(status.detail)}\ncreated:      {printable(status.created)}\n"
    )
    out.write(f"destinations: {printable(', '.join(status.destinations)) or '-'}\n")
    if status.digest:
        out.write(f"digest:       {status.digest}\n")
    return 0


def _logs(args: argparse.Namespace, cluster: Cluster, out: TextIO) -> int:
    namespace = args.namespace or cluster.namespace
    if args.follow:
        session = attach_build(cluster, args.name, namespace)
        for event in session.events():
            if event.kind.value == "log":
                out.write(printable(event.message) + "\n")
                out.flush()
        return 0
    for line in cluster.pod_log(namespace, args.name, CONTAINER_NAME, follow=False):
        out.write(printable(line.rstrip("\r")) + "\n")
    return 0


def _cancel(args: argparse.Namespace, cluster: Cluster, out: TextIO) -> int:
    namespace = args.namespace or cluster.namespace
    if not cancel_build(cluster, args.name, namespace):
        raise NotFoundError(args.name, namespace)
    out.write(f"cancelled build `{args.name}` in `{namespace}` (pod and ConfigMap deleted)\n")
    return 0


def _list(args: argparse.Namespace, cluster: Cluster, out: TextIO) -> int:
    namespace = None if args.all_namespaces else (args.namespace or cluster.namespace)
    builds = find_builds(cluster, namespace)
    if not builds:
        out.write(no_builds_text(namespace) + "\n")
        return 0
    out.write(f"{'NAMESPACE':<20} {'NAME':<32} {'PHASE':<10} {'DETAIL':<22} DESTINATION\n")
    for b in sorted(builds, key=lambda b: b.created):
        phase, detail = printable(b.phase), printable(b.detail)
        out.write(
            f"{b.namespace:<20} {b.name:<32} {phase:<10} {detail:<22} {printable(', '.join(b.destinations))}\n"
        )
    return 0


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run one cluster command; returns the exit status."""
    if args.command == "build":
        return _build(args, out, err)
    try:
        cluster = _with_cluster(args)
    except ClusterConfigError as exc:
        err.write(f"polymagic: error: {exc}\n")
        return EXIT_NO_CLUSTER
    try:
        if args.command == "status":
            return _status(args, cluster, out)
        if args.command == "logs":
            return _logs(args, cluster, out)
        if args.command == "cancel":
            return _cancel(args, cluster, out)
        return _list(args, cluster, out)
    except (ClusterError, BuildError, NotFoundError) as exc:
        err.write(f"polymagic: error: {printable(flat_message(exc))}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    finally:
        cluster.close()
