"""``%polybuild freeze``: the kernel's packages pinned into requirements.txt next to the
notebook, the views showing it with the Dockerfile that installs them, and a new ``%%polybuild``
cell.

The freeze itself (its options, reading the interpreter, writing the file) is
``polymagic.app.freeze_command``'s, shared with ``polymagic freeze``.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from polymagic.app.arguments import add_options, option
from polymagic.app.freeze_command import (
    FREEZE_OPTIONS,
    freeze_interpreter,
    frozen_dockerfiles,
    write_requirements,
)
from polymagic.errors import UsageError
from polymagic.notebook.magic_options import MagicParser

__all__ = ["run_freeze"]


def _parse(rest: str) -> argparse.Namespace:
    parser = MagicParser(prog="%polybuild freeze", add_help=False)
    out = option(
        "--out", metavar="VAR", help="bind the FreezeResult (.operation, .requirements) to VAR"
    )
    add_options(parser, *FREEZE_OPTIONS, out)
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise UsageError(f"%polybuild freeze: {exc}") from exc
    return parser.parse_args(words)


def run_freeze(rest: str, shell: Any) -> list[Any]:
    """Freeze with the options in ``rest``, write the requirements file and put the operation
    into a new cell below; returns the views to show (the result, warnings, the Dockerfile)."""
    from polymagic.notebook.freeze_view import FreezeView
    from polymagic.notebook.status_views import warnings_view
    from polymagic.notebook.views import DockerfileView

    args = _parse(rest)
    frozen = freeze_interpreter(args, Path.cwd(), user_namespace=shell.user_ns)
    write_requirements(frozen, force=args.force)
    views: list[Any] = [FreezeView(frozen.result, str(frozen.requirements_path))]
    if frozen.result.warnings:
        views.append(warnings_view(frozen.result.warnings))
    views += [
        DockerfileView(text, findings=findings)
        for text, findings in frozen_dockerfiles(frozen.result.operation, Path.cwd())
    ]
    shell.set_next_input("%%polybuild\n" + frozen.result.operation, replace=False)
    if args.out:
        shell.user_ns[args.out] = frozen.result
    return views
