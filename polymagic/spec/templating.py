"""Resolving ``{{ ... }}`` templates in a component's ``run`` the way Polyaxon does.

Polyaxon renders every string of the run with Jinja2 and then reads the result back as a
Python literal when it can (``"1"`` becomes ``1``); container ``command``/``args`` items stay
text, and one that renders ``None`` from a template is dropped. Pure.

Templates come from files people share, so rendering is sandboxed (no Python internals) and
bounded (no runaway time or memory): the operators that grow values (``*``, ``**``, ``+``,
``%``, ``~``) and the string functions that multiply text check the size of their result before
computing it; loops, calls and operators draw on one budget of steps; every value, rendering and
the total produced have a size cap; output that renders to a longer text containing its own
template is not rendered again. The bounds live in ``polymagic.limits`` and are counted over
one ``template_budget()`` (one compile); a normal template never comes near them.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import math
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame

from polymagic.errors import LimitError, SpecError
from polymagic.limits import (
    LITERAL_MAX_CHARS,
    TEMPLATE_MAX_INT_BITS,
    TEMPLATE_MAX_PRODUCED,
    TEMPLATE_MAX_RERENDERS,
    TEMPLATE_MAX_SOURCE_CHARS,
    TEMPLATE_MAX_STEPS,
    TEMPLATE_MAX_TAGS,
    TEMPLATE_MAX_VALUE,
    limit_text,
)

__all__ = ["render_value", "resolve_run", "template_budget"]


# -- the budget ---------------------------------------------------------------------------------


class _Exceeded(Exception):
    """Raised inside a rendering when a bound is hit; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Budget:
    """What the templates of one compile have used so far."""

    def __init__(self) -> None:
        self.steps = 0
        self.produced = 0
        self.tags = 0
        self.source = 0
        self.literal = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > TEMPLATE_MAX_STEPS:
            raise _Exceeded(
                f"uses more than {TEMPLATE_MAX_STEPS:,} loop iterations, calls and operations"
                f" ({limit_text('TEMPLATE_MAX_STEPS')})"
            )

    def check(self, size: int, what: str) -> None:
        """Refuse ``what`` before it is made if ``size`` would pass a bound."""
        if size > TEMPLATE_MAX_VALUE:
            raise _Exceeded(
                f"{what} would take {size:,} characters"
                f" ({limit_text('TEMPLATE_MAX_VALUE')}, a list item counting {_ITEM_COST})"
            )
        if self.produced + size > TEMPLATE_MAX_PRODUCED:
            raise _Exceeded(
                f"{what} would bring what the templates produce past"
                f" {TEMPLATE_MAX_PRODUCED:,} characters"
                f" ({limit_text('TEMPLATE_MAX_PRODUCED')})"
            )

    def produce(self, size: int, what: str) -> None:
        """Count ``size`` made by ``what``; past a bound it stops there."""
        self.check(size, what)
        self.produced += size


_BUDGET: ContextVar[_Budget | None] = ContextVar("polymagic_template_budget", default=None)


@contextlib.contextmanager
def template_budget() -> Iterator[None]:
    """Count every template rendered inside against one set of bounds (one compile)."""
    if _BUDGET.get() is not None:
        yield
        return
    token = _BUDGET.set(_Budget())
    try:
        yield
    finally:
        _BUDGET.reset(token)


def _budget() -> _Budget:
    # render_value always opens one; a bare _render call still gets per-value bounds.
    return _BUDGET.get() or _Budget()


# -- size checks --------------------------------------------------------------------------------

_SIZED = (str, bytes, list, tuple, dict, set, frozenset, range)
_ITEM_COST = 8  # a list item is a pointer: it counts as 8 characters


def _cost(value: Any, times: int = 1) -> int:
    """How much memory ``value`` (repeated ``times``) holds, in characters: one per character
    of a text, ``_ITEM_COST`` per item of a container; a range holds nothing."""
    if isinstance(value, (str, bytes)):
        return len(value) * times
    if isinstance(value, range):
        return 0
    return len(value) * times * _ITEM_COST


def _count(value: Any) -> int | None:
    """``value`` as a count (an int, not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text_size(value: Any, limit: int = TEMPLATE_MAX_VALUE) -> int:
    """About how long ``value`` is as text (Jinja's ``str()``), counted only up to just past
    ``limit``: a list of a million references to one long text is long as text."""
    total = 0
    pending = [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, bytes):
            total += 4 * len(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() * 3 // 10 + 2
        elif isinstance(item, (list, tuple, set, frozenset, dict, range)):
            total += 2 + 2 * len(item)  # brackets and separators
            if total > limit or isinstance(item, range):
                continue
            pending.extend(item.items() if isinstance(item, dict) else item)
        else:
            total += 24  # numbers, None, booleans, undefined values: short
    return total


def _short(value: Any, width: int = 40) -> str:
    """``value`` as the message shows it: a repr cut to ``width``."""
    if isinstance(value, str):
        return repr(value) if len(value) <= width else repr(value[:width]) + "…"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an integer of {value.bit_length():,} bits>"
    if isinstance(value, _SIZED) and len(value) > 20:
        return f"<a {type(value).__name__} of {len(value):,} items>"
    text = repr(value)
    return text if len(text) <= width else text[:width] + "…"


def _int_bits(value: Any, what: str) -> None:
    if _count(value) is not None and value.bit_length() > TEMPLATE_MAX_INT_BITS:
        raise _Exceeded(
            f"{what} is an integer of {value.bit_length():,} bits"
            f" ({limit_text('TEMPLATE_MAX_INT_BITS')})"
        )


def _check_binop(operator: str, left: Any, right: Any, shown: str) -> None:
    """Refuse an operation whose result would be too large, before computing it."""
    a, b = _count(left), _count(right)
    if operator == "**" and a is not None and b is not None and b > 0 and abs(a) > 1:
        bits = b * math.log2(abs(a))
        if bits > TEMPLATE_MAX_INT_BITS:
            raise _Exceeded(
                f"{shown} would be an integer of about {bits:,.0f} bits"
                f" ({limit_text('TEMPLATE_MAX_INT_BITS')})"
            )
    elif operator == "*" and a is not None and b is not None:
        bits = a.bit_length() + b.bit_length()
        if bits > TEMPLATE_MAX_INT_BITS:
            raise _Exceeded(
                f"{shown} would be an integer of about {bits:,} bits"
                f" ({limit_text('TEMPLATE_MAX_INT_BITS')})"
            )
    elif operator == "*" and (a is not None or b is not None):
        times, sequence = (a, right) if a is not None else (b, left)
        if isinstance(sequence, _SIZED) and times is not None and times > 0:
            _budget().check(_cost(sequence, times), shown)
    elif operator == "+" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
        _budget().check(_cost(left) + _cost(right), shown)
    elif operator == "%" and isinstance(left, str):
        _budget().check(_percent_estimate(left, right), shown)


# The width in a str.format field, e.g. 12 in "{:>12}" or "{0:012.3f}".
_FORMAT_WIDTH = re.compile(r"\{[^{}:]*:[^{}0-9]*0?(\d+)")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _percent_estimate(text: str, args: Any) -> int:
    """An upper bound of ``text % args``: each spec as long as the longest argument plus the
    widest width."""
    values = list(args.values()) if isinstance(args, Mapping) else args
    values = list(values) if isinstance(values, tuple) else [values]
    longest = max((_text_size(v) for v in values), default=0)
    widths = [0]
    for match in _PERCENT_SPEC.finditer(text):
        for number in match.groups():
            if number == "*":
                widths += [v for v in values if _count(v) is not None]
            elif number:
                widths.append(int(number))
    return len(text) + text.count("%") * (longest + max(widths))


def _call_estimate(name: str, owner: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """An upper bound of the result of the text functions that can multiply their input (0 for
    the others). ``owner`` is the text a method belongs to, or the value a filter is given."""
    params = [*args, *kwargs.values()]
    counts = [n for n in map(_count, params) if n is not None]
    longest = max((_text_size(p) for p in params), default=0)
    base = _text_size(owner)
    if name in ("center", "ljust", "rjust", "zfill", "truncate", "wordwrap", "indent"):
        # a width, and text inserted once per line (indent, wordwrap)
        lines = owner.count("\n") + 1 if isinstance(owner, str) else base
        return base + max(counts, default=0) + lines * longest
    if name == "join":
        if isinstance(owner, str):  # str.join(items): the owner is the separator
            items: Any = args[0] if args else ()
            separator = base
        else:  # items|join(separator)
            items, separator = owner, longest
        if not isinstance(items, _SIZED):
            return 0  # a generator: its items are checked as they are made
        return _text_size(items) + len(items) * separator
    if name == "replace" and isinstance(owner, str) and args:
        old = args[0] if isinstance(args[0], str) else ""
        new = args[1] if len(args) > 1 else ""
        hits = owner.count(old) if old else len(owner) + 1
        return base + hits * _text_size(new)
    if name in ("format", "format_map") and isinstance(owner, str):
        values = [*args, *(a for p in args if isinstance(p, Mapping) for a in p.values())]
        widths = [int(w) for w in _FORMAT_WIDTH.findall(owner)] or [0]
        fields = owner.count("{")
        return _percent_estimate(owner, tuple(values)) + fields * (longest + max(widths))
    if name == "expandtabs":
        return base * max(counts or [8])
    if name in ("generate_lorem_ipsum", "slice", "batch"):  # lipsum(n, ...) / |slice(n)
        return max(counts, default=0) * (1000 if name == "generate_lorem_ipsum" else 1)
    return 0


def _check_result(value: Any, what: str) -> Any:
    if isinstance(value, _SIZED):
        _budget().produce(_cost(value), what)
    else:
        _int_bits(value, what)
    return value


# -- the environment ------------------------------------------------------------------------------

_LOOP_FILTER = "polymagic_bounded_loop"


@jinja2.pass_context  # never folded at compile time: it must run, and count, on every use
def _bounded_loop(_context: Any, iterable: Any) -> Iterator[Any]:
    """Every ``{% for %}`` iterates through this: one step per item."""
    budget = _budget()
    for item in iterable:
        budget.step()
        yield item


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator with each loop counted and each ``~`` size-checked."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(
                loop.iter, _LOOP_FILTER, [], [], None, None, lineno=loop.lineno
            )
        super().visit_Template(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # As Jinja writes it (text, or markup when autoescaping), with the operands checked
        # before they are joined.
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"{join}(environment.concat_operands((")
        for operand in node.nodes:
            self.visit(operand, frame)
            self.write(", ")
        self.write(")))")


class _BoundedEnvironment(jinja2.sandbox.SandboxedEnvironment):
    """The sandbox plus size and step checks on operators, calls, filters, loops and output."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(autoescape=False, finalize=_finalize)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.filters[_LOOP_FILTER] = _bounded_loop

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _budget().step()
        shown = f"`{_short(left)} {operator} {_short(right)}`"
        _check_binop(operator, left, right, shown)
        return _check_result(self.binop_table[operator](left, right), shown)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _budget().step()
        target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
        name = getattr(target, "__name__", "")
        owner = getattr(target, "__self__", None)
        what = f"`{name}(…)`"
        estimate = _call_estimate(name, owner, args, kwargs)
        if estimate:
            _budget().check(estimate, what)
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(owner, (list, dict, set)):  # a method that grew its object (append)
            _check_result(owner, what)
        return _check_result(result, what)

    def concat_operands(self, operands: tuple[Any, ...]) -> tuple[Any, ...]:
        _budget().step()
        _budget().produce(sum(_text_size(o) for o in operands), "a `~` concatenation")
        return operands


def _finalize(value: Any) -> Any:
    """Every ``{{ ... }}`` value before it becomes text: a long one stops here."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        _budget().check(_text_size(value), f"the text of {_short(value)}")
    return value


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)  # keeps Jinja's pass_context / pass_environment marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _budget().step()
        values = [a for a in args if not isinstance(a, _JINJA_PASSED)]
        if values:
            estimate = _call_estimate(name, values[0], tuple(values[1:]), kwargs)
            if estimate:
                _budget().check(estimate, f"`|{name}`")
        return _check_result(function(*args, **kwargs), f"`|{name}`")

    return bounded


_JINJA_PASSED = (jinja2.runtime.Context, jinja2.Environment, nodes.EvalContext)
_ENV = _BoundedEnvironment()
_CACHED_TEMPLATE_CHARS = 4096


class _ContainerText(str):
    """An item of a container's command/args: rendered once and kept as text."""


@functools.lru_cache(maxsize=512)
def _cached_template(text: str) -> jinja2.Template:
    return _ENV.from_string(text)


def _template(text: str) -> jinja2.Template:
    budget = _budget()
    budget.tags += text.count("{{") + text.count("{%")
    budget.source += len(text)
    if budget.tags > TEMPLATE_MAX_TAGS:
        raise _Exceeded(
            f"brings the templates to more than {TEMPLATE_MAX_TAGS:,} tags"
            f" ({limit_text('TEMPLATE_MAX_TAGS')})"
        )
    if budget.source > TEMPLATE_MAX_SOURCE_CHARS:
        raise _Exceeded(
            f"brings the template text to more than {TEMPLATE_MAX_SOURCE_CHARS:,} characters"
            f" ({limit_text('TEMPLATE_MAX_SOURCE_CHARS')})"
        )
    # Compiling a template costs far more than rendering it; components repeat the same ones.
    # Large ones are not kept: the cache lives as long as the process (a notebook kernel).
    if len(text) <= _CACHED_TEMPLATE_CHARS:
        return _cached_template(str(text))
    return _ENV.from_string(str(text))


def _render(text: str, context: Mapping[str, Any], where: str) -> str:
    if "{{" not in text and "{%" not in text:
        return text
    try:
        chunks: list[str] = []
        size = 0
        # Streamed, so that output past the bound stops the rendering rather than ending it.
        for chunk in _template(text).generate(**context):
            size += len(chunk)
            if size > TEMPLATE_MAX_VALUE:
                raise _Exceeded(
                    f"renders more than {TEMPLATE_MAX_VALUE:,} characters"
                    f" ({limit_text('TEMPLATE_MAX_VALUE')})"
                )
            chunks.append(chunk)
        _budget().produce(size, "its output")
        return "".join(chunks)
    except _Exceeded as exc:
        raise LimitError(
            f"the template `{_clip(text)}` stopped: {exc.reason}", path=where or None
        ) from None
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
    if _BUDGET.get() is None:
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
    budget = _budget()
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
