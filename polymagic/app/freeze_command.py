"""The freeze workflow shared by ``polymagic freeze`` and ``%polybuild freeze``: its options
(declared once, for both, as ``polymagic.app.arguments`` declares the build's), reading the
interpreter, and writing the requirements file.

Writes exactly one file, the requirements file inside the build context folder, and never over an
existing one unless asked (``--force``); the build form's freeze writes it only when missing.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from polymagic.app.arguments import add_options, option
from polymagic.errors import SpecError

if TYPE_CHECKING:
    from polymagic.render.freeze import FreezeResult
    from polymagic.render.lint import Finding

__all__ = [
    "FREEZE_OPTIONS",
    "Frozen",
    "default_freeze_arguments",
    "freeze_for_form",
    "freeze_interpreter",
    "frozen_dockerfiles",
    "kernel_imports",
    "write_requirements",
]


FREEZE_OPTIONS = (
    option(
        "--imported",
        action="store_true",
        help="only the distributions of modules imported so far, with what they require",
    ),
    option("--base", metavar="IMAGE", help="base image (default: python:<major>.<minor>-slim)"),
    option("--destination", metavar="REF", help="the image to push"),
    option(
        "--connection", metavar="NAME", help="the registry connection (default: docker-connection)"
    ),
    option(
        "--pip-conf",
        metavar="NAME",
        help="pip reads this connection's secret as /etc/pip.conf (a private index and its"
        " token), as a build secret the image never holds",
    ),
    option(
        "--exclude",
        action="append",
        default=[],
        metavar="NAME",
        help="leave out this distribution and what only it requires (repeatable)",
    ),
    option(
        "--include-tooling",
        action="store_true",
        help="keep the notebook tooling (IPython, ipykernel, jupyter*, ipywidgets, polymagic, pip)",
    ),
    option(
        "--requirements",
        metavar="FILE",
        default="requirements.txt",
        help="where to write the requirements, inside the build context (default: requirements.txt)",
    ),
    option("--force", action="store_true", help="overwrite an existing requirements file"),
)
"""The options of ``freeze``, on the command line and in the notebook alike."""


def default_freeze_arguments() -> argparse.Namespace:
    """What ``freeze`` reads when given no option (e.g. the build form's ``--freeze``)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_options(parser, *FREEZE_OPTIONS)
    return parser.parse_args([])


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


_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,511}$")
_CONNECTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


def _check_words(args: argparse.Namespace) -> None:
    """``--base``, ``--destination``, ``--connection`` and ``--pip-conf`` are written into the
    operation (the base into the Dockerfile's FROM line, the pip.conf connection into its RUN
    line): one plain word each, so none can add a line or a mount option."""
    checks = (("--base", args.base, _IMAGE), ("--destination", args.destination, _IMAGE))
    names = (
        ("--connection", args.connection, _CONNECTION),
        ("--pip-conf", args.pip_conf, _CONNECTION),
    )
    for flag, value, pattern in (*checks, *names):
        if value is not None and not pattern.match(value):
            raise SpecError(
                f"{flag} {value!r}: give one image reference (letters, digits and . _ / : @ + -,"
                " no spaces or line breaks)"
                if pattern is _IMAGE
                else f"{flag} {value!r}: give a connection name (letters, digits and . _ -)",
                path=flag.removeprefix("--"),
            )


def freeze_interpreter(
    args: argparse.Namespace,
    context: Path,
    *,
    user_namespace: Mapping[str, Any] | None = None,
    modules: Mapping[str, object] | None = None,
) -> Frozen:
    """Freeze the running interpreter with the parsed ``args``; nothing is written yet."""
    from polymagic.app.interpreter import read_environment
    from polymagic.render.freeze import FreezeOptions, freeze
    from polymagic.render.freeze_lines import requirements_name_problem

    problem = requirements_name_problem(args.requirements)
    if problem is not None:
        raise SpecError(f"--requirements {args.requirements!r}: {problem}", path="requirements")
    _check_words(args)
    target, relative = _inside(context, args.requirements)
    options = FreezeOptions(
        imported_only=args.imported,
        include_tooling=args.include_tooling,
        exclude=tuple(args.exclude),
        base=args.base,
        destination=args.destination,
        connection=args.connection,
        requirements=relative,
        pip_conf=args.pip_conf,
    )
    environment = read_environment(
        user_namespace=user_namespace, modules=modules, context=context.resolve()
    )
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


def freeze_for_form(context: Path, *, user_namespace: Mapping[str, Any] | None = None) -> str:
    """The operation of a default freeze, for the build form: its requirements file is written
    when missing, and must not differ from what this interpreter holds when present."""
    frozen = freeze_interpreter(default_freeze_arguments(), context, user_namespace=user_namespace)
    path = frozen.requirements_path
    from polymagic.render.freeze_header import without_imported_line

    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if current is None:
        write_requirements(frozen, force=False)
    elif without_imported_line(current) != without_imported_line(frozen.result.requirements):
        # What the code imports changes as cells run; the packages pinned must not.
        raise SpecError(
            f"{path} exists and differs from this kernel's packages: run `%polybuild freeze"
            " --force` to rewrite it (or remove it), then `%polybuild form --freeze` again"
        )
    return frozen.result.operation


_REQUIREMENTS_LIMIT = 4 * 1024 * 1024
_PIP_R = re.compile(
    r"\bpip3? install\b[^\n]*?\s-r\s+(/?[A-Za-z0-9_][A-Za-z0-9._/-]{0,511})(?=\s|$)"
)
_MOUNT = re.compile(r"--mount=(\S{1,1024})")


def _bind_sources(line: str) -> dict[str, str]:
    """A RUN line's bind mounts from the build context: where each is mounted -> its source."""
    sources: dict[str, str] = {}
    for mount in _MOUNT.finditer(line):
        fields = dict(part.partition("=")[::2] for part in mount.group(1).split(","))
        if fields.get("type") == "bind" and "from" not in fields:
            target = fields.get("target") or fields.get("dst") or fields.get("destination")
            if target:
                sources[target] = fields.get("source") or fields.get("src") or "."
    return sources


def kernel_imports(dockerfile: str | None, context: Path | None) -> frozenset[str]:
    """The distributions a frozen build's requirements file says the notebook's code imported
    (canonical names): the file its Dockerfile's ``pip install -r FILE`` names, read from the
    build context (inside it, a regular file, bounded), or the context file a bind mount puts
    where it reads; empty when there is none."""
    if not dockerfile or context is None:
        return frozenset()
    found: set[str] = set()
    root = context.resolve()
    for line in dockerfile[:_REQUIREMENTS_LIMIT].splitlines():
        sources = _bind_sources(line)
        for match in _PIP_R.finditer(line):
            named = sources.get(match.group(1), match.group(1))
            if named.startswith("/"):  # a file of the image, not of the context
                continue
            found |= _imported_in(root, root / named)
    return frozenset(found)


def _imported_in(root: Path, path: Path) -> frozenset[str]:
    """The imported line of the requirements file at ``path``, inside ``root`` (bounded)."""
    from polymagic.app.freeze_owners import read_regular_text
    from polymagic.render.freeze_header import read_imported

    target = path.resolve()
    if not target.is_relative_to(root):
        return frozenset()
    text = read_regular_text(target, _REQUIREMENTS_LIMIT)
    return frozenset() if text is None else read_imported(text)


def frozen_dockerfiles(operation: str, context: Path) -> list[tuple[str, list[Finding]]]:
    """The Dockerfile of each init of a frozen operation, rendered alone (its destination may
    still be a placeholder), with lint findings against ``context``."""
    import yaml

    from polymagic.render.dockerfile import render_dockerfile
    from polymagic.render.lint import lint_dockerfile
    from polymagic.spec.loader import load_dockerfile_init

    document = yaml.safe_load(operation)
    rendered = []
    for init in document["runPatch"]["init"]:
        spec = load_dockerfile_init(init["dockerfile"])
        text = render_dockerfile(spec)
        rendered.append((text, lint_dockerfile(spec, text, context_dir=context)))
    return rendered
