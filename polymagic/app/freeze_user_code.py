"""What the user's own code imports, for ``freeze --imported``: read from its source, so that a
module the notebook tooling also loads still counts when the user's code asks for it.

The user's code is the kernel's cell history (IPython's ``_ih``), the local modules it loaded
(a helper ``.py`` next to the notebook) and the files it ran with ``%run``; both are parsed with ``ast`` (never run) and every
``import``/``from … import`` found counts — at the top of a cell, inside a function that was never
called, or in a helper — as do ``importlib.import_module("x")`` and ``__import__("x")`` with a
literal name. The namespace adds the modules bound to names (``np`` for numpy) and, as weaker
evidence, the modules the other values were defined in.

Each source is bounded in size and count; nothing is imported to resolve a name that is not
loaded yet (a top-level name is looked up with the import system's finders, the rest of a dotted
name by its files).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from polymagic.app.freeze_owners import ModuleOrigin, module_origin

__all__ = [
    "SOURCE_LIMIT",
    "UserCode",
    "cells",
    "imports_in_source",
    "resolve_module",
    "run_targets",
    "user_code",
]

SOURCE_LIMIT = 2 * 1024 * 1024
"""A cell or a local module's source larger than this is not read."""
SOURCES_TOTAL = 64 * 1024 * 1024
"""All sources read for one freeze, together."""
IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})
"""Names IPython itself puts in the user's namespace."""


def _import_calls(node: ast.Call) -> str | None:
    function = node.func
    called = function.attr if isinstance(function, ast.Attribute) else None
    if isinstance(function, ast.Name):
        called = function.id
    if called not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def imports_in_source(text: str) -> set[str]:
    """Absolute module names the source imports (relative imports are the local code's own)."""
    if len(text) > SOURCE_LIMIT:
        return set()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    found: set[str] = set()
    try:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
                found.update(
                    f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"
                )
            elif isinstance(node, ast.Call):
                called = _import_calls(node)
                if called:
                    found.add(called)
    except RecursionError:
        return set()
    return {name for name in found if all(part.isidentifier() for part in name.split("."))}


def _child(folders: Iterable[str], name: str) -> ModuleOrigin | None:
    """Module ``name``'s last part inside one of ``folders``, by its files: a package, a module
    or a namespace."""
    part = name.rsplit(".", 1)[-1]
    namespaces = []
    for folder in folders:
        package = os.path.join(folder, part, "__init__.py")
        if os.path.isfile(package):
            return ModuleOrigin(name, package)
        module = os.path.join(folder, f"{part}.py")
        if os.path.isfile(module):
            return ModuleOrigin(name, module)
        if os.path.isdir(os.path.join(folder, part)):
            namespaces.append(os.path.join(folder, part))
    return ModuleOrigin(name, None, tuple(namespaces)) if namespaces else None


def resolve_module(name: str, modules: Mapping[str, object]) -> ModuleOrigin | None:
    """Where module ``name`` comes from: the deepest loaded part of it, then its files."""
    parts = name.split(".")
    origin: ModuleOrigin | None = None
    depth = 0
    for size in range(len(parts), 0, -1):
        prefix = ".".join(parts[:size])
        if prefix in modules:
            origin, depth = module_origin(prefix, modules[prefix]), size
            break
    if origin is None:
        try:
            spec = importlib.util.find_spec(parts[0])
        except (ImportError, ValueError, AttributeError, TypeError, OSError):
            return None
        if spec is None:
            return None
        if isinstance(spec.origin, str) and os.path.isabs(spec.origin):
            origin = ModuleOrigin(parts[0], spec.origin)
        elif spec.submodule_search_locations:
            origin = ModuleOrigin(parts[0], None, tuple(spec.submodule_search_locations))
        else:
            return None  # built in: the standard library's
        depth = 1
    for size in range(depth + 1, len(parts) + 1):
        if origin.file is not None and not origin.file.endswith("__init__.py"):
            break
        folders = origin.namespace or (os.path.dirname(origin.file or ""),)
        deeper = _child(folders, ".".join(parts[:size]))
        if deeper is None:
            break
        origin = deeper
    return origin


@dataclass(frozen=True)
class UserCode:
    """The modules the user's code imports (by name) and the ones its values come from."""

    imports: frozenset[str]
    """Named in an import of a cell or a local module, or bound to a name (``np``)."""
    referenced: frozenset[str]
    """Modules the namespace's other values (functions, classes, objects) were defined in."""


def cells(namespace: Mapping[str, object]) -> list[str]:
    """The kernel's cell history (``_ih``, else ``In``): as IPython transformed each cell."""
    history = namespace.get("_ih")
    if not isinstance(history, list):
        history = namespace.get("In")
    if not isinstance(history, list):
        return []
    return [cell for cell in history if isinstance(cell, str)]


_RUN_VALUE_OPTIONS = frozenset({"-N", "-b", "-m"})
"""``%run`` options that take a value (``-m`` takes the module to run)."""


def _run_arguments(text: str) -> list[str]:
    """The argument strings of the ``%run`` magics in one transformed cell."""
    if len(text) > SOURCE_LIMIT or "run_line_magic" not in text:
        return []
    try:
        nodes = list(ast.walk(ast.parse(text)))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    found = []
    for node in nodes:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "run_line_magic"
            and len(node.args) >= 2
            and all(isinstance(arg, ast.Constant) for arg in node.args[:2])
            and getattr(node.args[0], "value", None) == "run"
            and isinstance(getattr(node.args[1], "value", None), str)
        ):
            found.append(str(getattr(node.args[1], "value", "")))
    return found


def run_targets(namespace: Mapping[str, object]) -> tuple[list[str], list[str]]:
    """The files (as written) and the modules (``-m``) the cells ran with ``%run``: code the
    user's notebook needs that is never imported."""
    import shlex

    files: list[str] = []
    modules: list[str] = []
    for cell in cells(namespace):
        for arguments in _run_arguments(cell):
            try:
                words = shlex.split(arguments)
            except ValueError:
                continue
            index = 0
            while index < len(words) and words[index].startswith("-"):
                if words[index] == "-m" and index + 1 < len(words):
                    modules.append(words[index + 1])
                    break
                index += 2 if words[index] in _RUN_VALUE_OPTIONS else 1
            else:
                if index < len(words):
                    files.append(words[index])
    return files, modules


def _read_source(path: str) -> str | None:
    if not path.endswith(".py"):
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read(SOURCE_LIMIT + 1)
    except OSError:
        return None
    return None if len(text) > SOURCE_LIMIT else text


def user_code(namespace: Mapping[str, object], local_files: Iterable[str]) -> UserCode:
    """What the cells in ``namespace`` and the ``local_files`` (helpers) import."""
    imports: set[str] = set()
    referenced: set[str] = set()
    budget = SOURCES_TOTAL
    sources = cells(namespace) + [text for text in map(_read_source, local_files) if text]
    for text in sources:
        budget -= len(text)
        if budget < 0:
            break
        imports |= imports_in_source(text)
    for key, value in list(namespace.items()):
        if not isinstance(key, str) or key.startswith("_") or key in IPYTHON_NAMES:
            continue
        if isinstance(value, types.ModuleType):
            imports.add(value.__name__)
            continue
        module = getattr(value, "__module__", None)
        if not isinstance(module, str):
            module = getattr(type(value), "__module__", None)
        if isinstance(module, str):
            referenced.add(module)
    return UserCode(frozenset(imports), frozenset(referenced))
