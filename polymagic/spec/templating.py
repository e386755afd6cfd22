"""Resolving ``{{ ... }}`` templates in a component's ``run`` the way Polyaxon does.

Polyaxon renders every string of the run with Jinja2 and then reads the result back as a
Python literal when it can (``"1"`` becomes ``1``); container ``command``/``args`` items stay
text, and one that renders ``None`` from a template is dropped. Pure.

Templates come from files people share, so rendering is sandboxed (no Python internals) and
bounded by construction (no runaway time or memory): only the filters, tests, methods and
functions of ``template_allowed`` run, each charged its steps and checked for the size of its
result before it runs, from the sizes of its inputs; the operators that grow values (``*``,
``**``, ``+``, ``%``, ``~``) check the size of their result before computing it; loops, calls and operators draw on one budget of steps; every value, rendering and
the total produced have a size cap; output that renders to a longer text containing its own
template is not rendered again. The bounds live in ``polymagic.limits`` and are counted over
one ``template_budget()`` (one compile); a normal template never comes near them. The checks
are in ``template_bounds``, the sandbox in ``jinja_sandbox``, imported (with Jinja2) only when
a document holds a template.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from polymagic.errors import LimitError, SpecError
from polymagic.limits import (
    LITERAL_MAX_CHARS,
    TEMPLATE_MAX_RERENDERS,
    TEMPLATE_MAX_SOURCE_CHARS,
    TEMPLATE_MAX_TAGS,
    TEMPLATE_MAX_VALUE,
    limit_text,
)
from polymagic.spec.template_bounds import (
    Exceeded,
    budget_open,
    current_budget,
    template_budget,
)

if TYPE_CHECKING:
    import jinja2

__all__ = ["render_value", "resolve_run", "template_budget"]


class _ContainerText(str):
    """An item of a container's command/args: rendered once and kept as text."""


def _template(text: str) -> jinja2.Template:
    budget = current_budget()
    budget.tags += text.count("{{") + text.count("{%")
    budget.source += len(text)
    if budget.tags > TEMPLATE_MAX_TAGS:
        raise Exceeded(
            f"brings the templates to more than {TEMPLATE_MAX_TAGS:,} tags"
            f" ({limit_text('TEMPLATE_MAX_TAGS')})"
        )
    if budget.source > TEMPLATE_MAX_SOURCE_CHARS:
        raise Exceeded(
            f"brings the template text to more than {TEMPLATE_MAX_SOURCE_CHARS:,} characters"
            f" ({limit_text('TEMPLATE_MAX_SOURCE_CHARS')})"
        )
    from polymagic.spec.jinja_sandbox import compile_template

    return compile_template(text)


def _render(text: str, context: Mapping[str, Any], where: str) -> str:
    if "{{" not in text and "{%" not in text:
        return text
    # Jinja2 is imported with the first template: a document without one never loads it.
    from polymagic.spec.jinja_sandbox import TemplateError

    try:
        chunks: list[str] = []
        size = 0
        # Streamed, so that output past the bound stops the rendering rather than ending it.
        for chunk in _template(text).generate(**context):
            size += len(chunk)
            if size > TEMPLATE_MAX_VALUE:
                raise Exceeded(
                    f"renders more than {TEMPLATE_MAX_VALUE:,} characters"
                    f" ({limit_text('TEMPLATE_MAX_VALUE')})"
                )
            chunks.append(chunk)
        current_budget().produce(size, "its output")
        return "".join(chunks)
    except Exceeded as exc:
        raise LimitError(
            f"the template `{_clip(text)}` stopped: {exc.reason}", path=where or None
        ) from None
    except (
        TemplateError,
        MemoryError,
        OverflowError,
        ValueError,
        TypeError,
        ArithmeticError,
        AttributeError,
        LookupError,
        RecursionError,
        AssertionError,  # Jinja's own argument checks (`|truncate(0)`)
    ) as exc:
        reason = str(exc) or ("it ran out of memory" if isinstance(exc, MemoryError) else repr(exc))
        raise SpecError(
            f"cannot resolve the template `{_clip(text)}`: {reason}. Check that every name it"
            " uses is a param, `params.<name>`, `connections[...]` or `globals.<key>`",
            path=where or None,
        ) from exc


def _clip(text: str, width: int = 200) -> str:
    return text if len(text) <= width else f"{text[:width]}… ({len(text):,} characters)"


def render_value(value: Any, context: Mapping[str, Any], where: str = "", depth: int = 0) -> Any:
    """Resolve every template inside ``value`` (dicts, lists, strings); keys included."""
    if not budget_open():
        with template_budget():
            return render_value(value, context, where, depth)
    if depth > TEMPLATE_MAX_RERENDERS:
        raise LimitError(
            f"templates keep producing templates; stopped after {TEMPLATE_MAX_RERENDERS}"
            f" renderings ({limit_text('TEMPLATE_MAX_RERENDERS')})",
            path=where or None,
        )
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
        return _literal(result, where)
    if len(result) > len(text) and text in result and ("{{" in text or "{%" in text):
        # Rendering it again would contain it again, and grow forever.
        raise LimitError(
            f"the template `{_clip(text, 80)}` renders to a longer text that contains it (a"
            " value that refers to itself?), so rendering it again would never end",
            path=where or None,
        )
    return render_value(result, context, where, depth + 1)


# A text that begins with a name other than True/False/None (or a string prefix before a
# quote) is never a Python literal: ``literal_eval`` would fail on it, so it is not parsed.
_NOT_A_LITERAL = re.compile(
    r"[ \t]*(?!(?:True|False|None)\b)[A-Za-z_][A-Za-z0-9_]*(?![A-Za-z0-9_'\"])"
)


def _literal(text: str, where: str) -> Any:
    """``text`` read as a Python literal when it is one (as Polyaxon does), else itself."""
    if _NOT_A_LITERAL.match(text):
        return text
    budget = current_budget()
    budget.literal += len(text)
    if budget.literal > LITERAL_MAX_CHARS:
        # Parsing costs ~2 µs and ~500 bytes a character on dense lists.
        raise LimitError(
            f"more than {LITERAL_MAX_CHARS:,} characters of run text to read as Python"
            f" literals, as Polyaxon does ({limit_text('LITERAL_MAX_CHARS')})",
            path=where or None,
        )
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


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
