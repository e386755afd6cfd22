"""The freeze workflow shared by ``polymagic freeze`` and ``%polybuild freeze``: its options
(declared once, for both), reading the interpreter, and writing the requirements file.

Writes exactly one file, the requirements file inside the build context folder, and never over an
existing one unless asked (``--force``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from polymagic.errors import SpecError

if TYPE_CHECKING:
    from polymagic.render.freeze import FreezeResult

__all__ = ["Frozen", "add_freeze_arguments", "freeze_interpreter", "write_requirements"]


def add_freeze_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``freeze``, on the command line and in the notebook alike."""
    parser.add_argument(
        "--imported",
        action="store_true",
        help="only the distributions of modules imported so far, with what they require",
    )
    parser.add_argument(
        "--base", metavar="IMAGE", help="base image (default: python:<major>.<minor>-slim)"
    )
    parser.add_argument("--destination", metavar="REF", help="the image to push")
    parser.add_argument(
        "--connection", metavar="NAME", help="the registry connection (default: docker-connection)"
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="NAME",
        help="leave out this distribution and what only it requires (repeatable)",
    )
    parser.add_argument(
        "--include-tooling",
        action="store_true",
        help="keep the notebook tooling (IPython, ipykernel, jupyter*, ipywidgets, polymagic, pip)",
    )
    parser.add_argument(
        "--requirements",
        metavar="FILE",
        default="requirements.txt",
        help="where to write the requirements, inside the build context (default: requirements.txt)",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite an existing requirements file"
    )


@dataclass(frozen=True)
class Frozen:
    """A freeze and where its requirements file goes."""

    result: FreezeResult
    requirements_path: Path


def _inside(context: Path, requirements: str) -> tuple[Path, str]:
    """The requirements file's path, and its path relative to the context (for ``COPY``)."""
    target = (context / requirements).resolve()
    root = context.resolve()
    try:
        relative = target.relative_to(root)
    except ValueError:
        raise SpecError(
            f"--requirements {requirements}: the file must be inside the build context folder"
            f" ({root}), so that the image can COPY it",
            path="requirements",
        ) from None
    return target, PurePosixPath(*relative.parts).as_posix()


def freeze_interpreter(
    args: argparse.Namespace,
    context: Path,
    *,
    user_namespace: Mapping[str, Any] | None = None,
    modules: Any = None,
) -> Frozen:
    """Freeze the running interpreter with the parsed ``args``; nothing is written yet."""
    from polymagic.app.interpreter import read_environment
    from polymagic.render.freeze import FreezeOptions, freeze

    target, relative = _inside(context, args.requirements)
    options = FreezeOptions(
        imported_only=args.imported,
        include_tooling=args.include_tooling,
        exclude=tuple(args.exclude),
        base=args.base,
        destination=args.destination,
        connection=args.connection,
        requirements=relative,
    )
    environment = read_environment(user_namespace=user_namespace, modules=modules)
    return Frozen(freeze(environment, options), target)


def write_requirements(frozen: Frozen, *, force: bool) -> None:
    """Write the requirements file; an existing one is kept unless ``force``."""
    path = frozen.requirements_path
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        descriptor = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except FileExistsError:
        raise SpecError(
            f"{path} already exists: pass --force to overwrite it, or --requirements FILE",
            path="requirements",
        ) from None
    except OSError as exc:
        raise SpecError(f"cannot write {path}: {exc.strerror}", path="requirements") from exc
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(frozen.result.requirements)
