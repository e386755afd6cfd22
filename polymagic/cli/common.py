"""What every command of the command line shares: reading the operation, the build context
folder, and one-line error messages. (The options it shares with the notebook, and the
``BuildOptions`` made from them, are ``polymagic.app.arguments``'.)"""

from __future__ import annotations

import argparse
import sys
from io import BytesIO
from pathlib import Path

from polymagic.printable import printable

__all__ = ["context_base", "flat_message", "read_source"]


def read_source(file: str) -> str | Path:
    """The operation: stdin's text for ``-`` (bounded, UTF-8), else the path, read later by
    the loader with the same checks (a regular file, bounded, UTF-8)."""
    if file == "-":
        from polymagic.spec.yaml_reader import read_spec_stream

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


def flat_message(exc: Exception) -> str:
    """An error's message on one line (for stderr), safe to print whatever it quotes."""
    return printable(" ".join(str(exc).split()))
