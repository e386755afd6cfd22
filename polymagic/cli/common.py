"""What every command of the command line shares: reading the operation, the build context
folder, the executor options, and one-line error messages."""

from __future__ import annotations

import argparse
import sys
from io import BytesIO
from pathlib import Path
from typing import Any

from polymagic.printable import printable
from polymagic.render.manifests import KanikoOptions
from polymagic.spec.loader import read_spec_stream
from polymagic.spec.params import parse_pairs

__all__ = ["context_base", "flat_message", "kaniko_options", "read_source"]


def read_source(file: str) -> str | Path:
    """The operation: stdin's text for ``-`` (bounded, UTF-8), else the path, read later by
    the loader with the same checks (a regular file, bounded, UTF-8)."""
    if file == "-":
        # A stdin replaced by a text stream (tests, embedding) has no bytes to decode.
        stream = getattr(sys.stdin, "buffer", None) or BytesIO(sys.stdin.read().encode())
        text = read_spec_stream(stream)
        return text if "\n" in text else text + "\n"  # text, never taken for a file name
    return Path(file)


def context_base(args: argparse.Namespace) -> Path:
    """Where COPY sources come from: --context, else the operation file's folder."""
    if args.context:
        return Path(args.context)
    return Path(args.file).resolve().parent if args.file != "-" else Path.cwd()


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


def flat_message(exc: Exception) -> str:
    """An error's message on one line (for stderr), safe to print whatever it quotes."""
    return printable(" ".join(str(exc).split()))
