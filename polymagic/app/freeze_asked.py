"""What the user asked an installer for, read from the kernel's input history, for ``freeze``:
a distribution named in ``%pip install X`` counts as the user's even when pip wrote no
``REQUESTED`` (it does not when X was already installed, e.g. as a dependency of the tooling).

Found in a cell, raw or as IPython transformed it (``get_ipython().run_line_magic('pip', …)``):
``%pip``/``!pip``/``!pip3``/``!python -m pip``/``!{sys.executable} -m pip``/``uv pip`` ``install``,
``%conda``/``%mamba``/``%micromamba`` ``install``, the same lines in a shell cell
(``%%bash``/``%%sh``/``%%script``) or under ``%%capture``, and ``subprocess``/``os.system`` calls
with literal arguments. Requirements are parsed with ``packaging``; a wheel or sdist file name or a
URL's ``#egg=`` gives its name; ``-r FILE`` is read (relative to the kernel's folder, regular files
only, bounded in size, count and depth). Local paths and editable installs name nothing here: the
installed metadata says what they are.

Runs nothing; reads only the requirements files a history names.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
from collections.abc import Iterable, Iterator
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from polymagic.app.freeze_owners import read_regular_text

__all__ = ["REQUIREMENTS_FILE_LIMIT", "asked_for", "install_commands", "requirement_names"]

REQUIREMENTS_FILE_LIMIT = 1024 * 1024
"""A requirements file larger than this is not read."""
_FILES = 32
"""At most this many requirements files are read for one history (``-r`` nested included)."""
_DEPTH = 4
_LINE_LIMIT = 64 * 1024
"""A command line longer than this is not read."""
_COMMAND_LINES = 2000
"""At most this many distinct lines holding ``install`` are read as commands, per history."""
_SOURCE_LIMIT = 2 * 1024 * 1024
_HISTORY_LIMIT = 16 * 1024 * 1024
_SHELL_MAGICS = frozenset({"bash", "sh", "script", "system", "capture", "time", "timeit"})
_INSTALLER_MAGICS = frozenset({"pip", "conda", "mamba", "micromamba", "uv"})
_SHELL_CALLS = frozenset(
    {"system", "getoutput", "getstatusoutput", "run", "call", "check_call", "check_output", "Popen"}
)
_PIP_VALUE_OPTIONS = frozenset(
    {
        *("-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-c", "--constraint"),
        *("-t", "--target", "--prefix", "--root", "--src", "--upgrade-strategy", "--platform"),
        *("--python-version", "--implementation", "--abi", "--trusted-host", "--proxy"),
        *("--timeout", "--retries", "--cache-dir", "--log", "--progress-bar", "--no-binary"),
        *("--only-binary", "--config-settings", "-C", "--global-option", "--report", "--python"),
        *("--exists-action", "--cert", "--client-cert", "--keyring-provider", "--use-feature"),
        *("--root-user-action", "--use-deprecated", "-e", "--editable", "--build-option"),
        *("--resolution", "--prerelease", "--index-strategy", "--extra", "-p", "--group"),
    }
)
_CONDA_VALUE_OPTIONS = frozenset(
    {"-c", "--channel", "-n", "--name", "-p", "--prefix", "--file", "--repodata-fn"}
)
_PYTHON = re.compile(r"^(python[0-9.]*|\{[^{}]*\}|\$\{?[A-Za-z_]+\}?)$")
_PIP = re.compile(r"^pip[0-9.]*$")
_CONDA = re.compile(r"^(conda|mamba|micromamba)$")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
_CONDA_SPEC = re.compile(r"^(?:[^:\s]+::)?([A-Za-z0-9][A-Za-z0-9._-]*)")


def _words(line: str) -> list[list[str]]:
    """A shell line's simple commands (split at ``;``, ``&&``, ``|``, ...) as words."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # a ``#`` inside a word (``#egg=``) is not a comment
    commands: list[list[str]] = [[]]
    try:
        for word in lexer:
            if word.startswith("#"):
                break
            if word and set(word) <= set(";&|()<>"):
                commands.append([])
            else:
                commands[-1].append(word)
    except ValueError:  # an unclosed quote: the words read so far still count
        pass
    return [words for words in commands if words]


def _installer_arguments(words: list[str]) -> tuple[str, list[str]] | None:
    """``("pip" | "conda", arguments after "install")`` for an install command, else None."""
    while words and "=" in words[0] and not words[0].startswith("-"):  # VAR=value pip install
        words = words[1:]
    if not words:
        return None
    program = os.path.basename(words[0])
    rest = words[1:]
    if _PYTHON.match(program):
        if "-m" not in rest:
            return None
        rest = rest[rest.index("-m") + 1 :]
        program = rest[0] if rest else ""
        rest = rest[1:]
    if program == "uv" and rest[:1] == ["pip"]:
        program, rest = "pip", rest[1:]
    kind = "pip" if _PIP.match(program) else "conda" if _CONDA.match(program) else None
    if kind is None:
        return None
    # Options before the subcommand (``pip -q install``) are skipped.
    while rest and rest[0].startswith("-"):
        rest = rest[1:]
    if not rest or rest[0] != "install":
        return None
    return kind, rest[1:]


class _Seen:
    """The command lines read so far for one history: each read once, and at most
    ``_COMMAND_LINES`` of them."""

    def __init__(self) -> None:
        self.lines: set[str] = set()

    def fresh(self, line: str) -> bool:
        if line in self.lines or len(self.lines) >= _COMMAND_LINES:
            return False
        self.lines.add(line)
        return True


def install_commands(text: str, seen: _Seen | None = None) -> Iterator[tuple[str, list[str]]]:
    """Every install command in one cell's source, as ``(installer, arguments)``."""
    if len(text) > _SOURCE_LIMIT:
        return
    seen = seen or _Seen()
    yield from _shell_lines(text, seen, prefixed_only=True)
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return
    try:
        nodes = list(ast.walk(tree))
    except RecursionError:
        return
    for node in nodes:
        if isinstance(node, ast.Call):
            yield from _call_commands(node, seen)


def _shell_lines(
    text: str, seen: _Seen, *, prefixed_only: bool, depth: int = 0
) -> Iterator[tuple[str, list[str]]]:
    """Install commands in raw lines: ``%pip …``/``!pip …`` (and, in a shell cell's body, any
    line)."""
    lines = text.splitlines()
    if prefixed_only and lines and lines[0].lstrip().startswith("%%"):
        magic, _, _ = lines[0].lstrip()[2:].partition(" ")
        if magic.strip() in _SHELL_MAGICS and depth < _DEPTH:  # %%capture in %%capture …
            shell = magic.strip() not in ("capture", "time", "timeit")
            body = "\n".join(lines[1:])
            yield from _shell_lines(body, seen, prefixed_only=not shell, depth=depth + 1)
        return
    for raw in lines:
        if "install" not in raw or len(raw) > _LINE_LIMIT or not seen.fresh(raw):
            continue
        line = raw.strip()
        if line.startswith(("!", "%")):
            line = line.lstrip("!%")
        elif prefixed_only:
            continue
        for words in _words(line):
            found = _installer_arguments(words)
            if found is not None:
                yield found


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _call_commands(node: ast.Call, seen: _Seen) -> Iterator[tuple[str, list[str]]]:
    function = node.func
    called = function.attr if isinstance(function, ast.Attribute) else None
    if isinstance(function, ast.Name):
        called = function.id
    arguments = [_literal(argument) for argument in node.args]
    if called == "run_line_magic" and len(arguments) >= 2 and arguments[0] and arguments[1]:
        if arguments[0] in _INSTALLER_MAGICS:
            yield from _shell_lines(f"{arguments[0]} {arguments[1]}", seen, prefixed_only=False)
    elif called == "run_cell_magic" and len(arguments) >= 3 and arguments[0] and arguments[2]:
        if arguments[0] in _SHELL_MAGICS:
            body = arguments[2]
            shell = arguments[0] not in ("capture", "time", "timeit")
            yield from _shell_lines(body, seen, prefixed_only=not shell)
    elif called in _SHELL_CALLS and node.args:
        first = node.args[0]
        if arguments[0] is not None:
            yield from _shell_lines(arguments[0], seen, prefixed_only=False)
        elif isinstance(first, (ast.List, ast.Tuple)):
            # [sys.executable, "-m", "pip", "install", "x"]: a non-literal program is Python.
            words = [_literal(element) or "python" for element in first.elts]
            found = _installer_arguments(words)
            if found is not None:
                yield found


def _name_of(word: str) -> str | None:
    """The distribution a requirement word names: a PEP 508 requirement, a wheel or sdist file
    name, a URL's ``#egg=``; None for a local path or anything else."""
    egg = _EGG.search(word)
    if egg:
        return canonicalize_name(egg.group(1))
    base = word.rsplit("/", 1)[-1]
    try:
        if base.endswith(".whl"):
            return canonicalize_name(parse_wheel_filename(base)[0])
        if base.endswith((".tar.gz", ".zip")):
            return canonicalize_name(parse_sdist_filename(base)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    if word.startswith((".", "/", "~")) or "://" in word:
        return None
    try:
        return canonicalize_name(Requirement(word).name)
    except InvalidRequirement:
        return None


class _Files:
    """The requirements files read so far, bounded in count."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.read = 0

    def text(self, path: Path) -> str | None:
        if self.read >= _FILES:
            return None
        self.read += 1
        return read_regular_text(path, REQUIREMENTS_FILE_LIMIT)


def _file_names(files: _Files, path: Path, depth: int) -> Iterator[str]:
    """The names a requirements file asks for (its ``-r`` files followed, ``-c`` not)."""
    text = files.text(path)
    if text is None:
        return
    joined = re.sub(r"\\\r?\n", "", text)  # as pip joins a continued line
    for raw in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        if line.startswith("-"):
            words = _words_plain(line)
            if len(words) >= 1 and words[0].startswith(("-r", "--requirement")):
                target = _option_value(words, ("-r", "--requirement"))
                if target and depth < _DEPTH and "://" not in target:
                    yield from _file_names(files, path.parent / target, depth + 1)
            continue
        name = _name_of(line)
        if name:
            yield name


def _words_plain(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=False)
    except ValueError:
        return line.split()


def _option_value(words: list[str], flags: tuple[str, str]) -> str | None:
    """``-r x``, ``-rx``, ``--requirement x`` or ``--requirement=x`` at the start of ``words``."""
    short, long = flags
    first = words[0]
    if first in flags:
        return words[1] if len(words) > 1 else None
    if first.startswith(long + "="):
        return first[len(long) + 1 :]
    if first.startswith(short) and not first.startswith("--"):
        return first[len(short) :]
    return None


def requirement_names(
    installer: str, arguments: list[str], files: _Files | None = None
) -> Iterator[str]:
    """The distribution names one install command asks for."""
    if installer == "conda":
        skip = False
        for word in arguments:
            if skip:
                skip = False
            elif word.startswith("-"):
                skip = word in _CONDA_VALUE_OPTIONS
            elif match := _CONDA_SPEC.match(word):
                yield canonicalize_name(match.group(1))
        return
    index = 0
    while index < len(arguments):
        word = arguments[index]
        index += 1
        if word.startswith("-"):
            if word in ("-r", "--requirement") or word.startswith(("-r", "--requirement=")):
                target = _option_value(
                    [word, *arguments[index : index + 1]], ("-r", "--requirement")
                )
                if word in ("-r", "--requirement"):
                    index += 1
                if files is not None and target and "://" not in target:
                    yield from _file_names(files, files.folder / target, 1)
            elif word in _PIP_VALUE_OPTIONS:
                index += 1
            continue
        if arguments[index : index + 1] == ["@"] and index + 1 < len(arguments):
            word = f"{word} @ {arguments[index + 1]}"  # name @ url, split by the shell
            index += 2
        name = _name_of(word)
        if name:
            yield name


def asked_for(cells: Iterable[str], folder: Path | None) -> frozenset[str]:
    """The canonical names every install command in ``cells`` asks for; ``-r`` files are read
    relative to ``folder`` (none read without one)."""
    files = _Files(folder) if folder is not None else None
    names: set[str] = set()
    budget = _HISTORY_LIMIT
    seen = _Seen()
    for text in cells:
        budget -= len(text)
        if budget < 0:
            break
        for installer, arguments in install_commands(text, seen):
            names.update(requirement_names(installer, arguments, files))
    return frozenset(names)
