"""Resolving ``{{ ... }}`` templates in a component's ``run`` the way Polyaxon does.

Polyaxon renders every string of the run with Jinja2 and then reads the result back as a
Python literal when it can (``"1"`` becomes ``1``); container ``command``/``args`` items stay
text, and one that renders ``None`` from a template is dropped. Pure.
"""

from __future__ import annotations

import ast
import copy
import functools
from collections.abc import Mapping
from typing import Any

import jinja2
import jinja2.sandbox

from polymagic.errors import SpecError

__all__ = ["render_value", "resolve_run"]

# Sandboxed: a shared operation file must not reach Python internals through a template.
_ENV = jinja2.sandbox.SandboxedEnvironment(autoescape=False)
_MAX_DEPTH = 20


class _ContainerText(str):
    """An item of a container's command/args: rendered once and kept as text."""


@functools.lru_cache(maxsize=512)
def _template(text: str) -> jinja2.Template:
    # Compiling a template costs far more than rendering it; components repeat the same ones.
    return _ENV.from_string(str(text))


def _render(text: str, context: Mapping[str, Any], where: str) -> str:
    if "{{" not in text and "{%" not in text:
        return text
    try:
        return _template(text).render(**context)
    except (
        jinja2.TemplateError,
        MemoryError,
        OverflowError,
        ValueError,
        TypeError,
        ArithmeticError,
        AttributeError,
        LookupError,
        RecursionError,
    ) as exc:
        raise SpecError(
            f"cannot resolve the template `{text}`: {exc}. Check that every name it uses is a"
            " param, `params.<name>`, `connections[...]` or `globals.<key>`",
            path=where,
        ) from exc


def render_value(value: Any, context: Mapping[str, Any], where: str = "", depth: int = 0) -> Any:
    """Resolve every template inside ``value`` (dicts, lists, strings); keys included."""
    if depth > _MAX_DEPTH:
        raise SpecError("templates keep producing templates; stopping", path=where)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            new_key = render_value(key, context, where, depth)
            out[new_key] = render_value(
                item, context, f"{where}.{key}" if where else str(key), depth
            )
        return out
    if isinstance(value, list):
        return [render_value(item, context, f"{where}[{i}]", depth) for i, item in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(render_value(item, context, where, depth) for item in value)
    if isinstance(value, str):
        return _render_string(value, context, where, depth)
    return value


def _render_string(text: str, context: Mapping[str, Any], where: str, depth: int) -> Any:
    result = _render(text, context, where)
    if isinstance(text, _ContainerText):
        # A template that renders "None" (an unset param) leaves no argument behind.
        if result == "None" and result != text:
            return None
        return str(result)
    if result == text:
        try:
            return ast.literal_eval(result)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return result
    return render_value(result, context, where, depth + 1)


def _mark_container_text(run: dict[str, Any]) -> None:
    containers: list[Any] = []
    if isinstance(run.get("container"), dict):
        containers.append(run["container"])
    if isinstance(run.get("sidecars"), list):
        containers.extend(run["sidecars"])
    if isinstance(run.get("init"), list):
        containers.extend(
            i["container"]
            for i in run["init"]
            if isinstance(i, dict) and isinstance(i.get("container"), dict)
        )
    for container in containers:
        if not isinstance(container, dict):
            continue
        for key in ("command", "args"):
            items = container.get(key)
            if isinstance(items, list):
                container[key] = [_ContainerText(i) if isinstance(i, str) else i for i in items]


def resolve_run(run: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """The run with every template resolved against ``context``."""
    data = copy.deepcopy(dict(run))
    _mark_container_text(data)
    resolved = render_value(data, context, "run")
    if not isinstance(resolved, dict):
        raise SpecError("the run section did not resolve to a mapping", path="run")
    return resolved
