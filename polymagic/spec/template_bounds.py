"""The bounds on templates: one budget of steps and sizes per compile, and the size checks
made before an operator, a call or a filter computes its result.

Templates come from files people share; these checks keep a rendering from running away with
time or memory. They know nothing of Jinja2 (``jinja_sandbox`` calls them from inside the
sandbox); the bounds themselves live in ``polymagic.limits``. Pure.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from polymagic.limits import (
    TEMPLATE_MAX_INT_BITS,
    TEMPLATE_MAX_PRODUCED,
    TEMPLATE_MAX_STEPS,
    TEMPLATE_MAX_VALUE,
    limit_text,
)

__all__ = [
    "Budget",
    "Exceeded",
    "budget_open",
    "check_binop",
    "check_result",
    "current_budget",
    "short",
    "template_budget",
    "text_size",
]


# -- the budget ---------------------------------------------------------------------------------


class Exceeded(Exception):
    """Raised inside a rendering when a bound is hit; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Budget:
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
            raise Exceeded(
                f"uses more than {TEMPLATE_MAX_STEPS:,} loop iterations, calls and operations"
                f" ({limit_text('TEMPLATE_MAX_STEPS')})"
            )

    def spend(self, steps: int, what: str) -> None:
        """Charge ``steps`` for ``what`` before it runs; past the bound it does not run."""
        self.steps += steps
        if self.steps > TEMPLATE_MAX_STEPS:
            raise Exceeded(
                f"{what} would bring the steps past {TEMPLATE_MAX_STEPS:,} (loop iterations,"
                f" calls, operations and the items they go through;"
                f" {limit_text('TEMPLATE_MAX_STEPS')})"
            )

    def check(self, size: int, what: str) -> None:
        """Refuse ``what`` before it is made if ``size`` would pass a bound."""
        if size > TEMPLATE_MAX_VALUE:
            raise Exceeded(
                f"{what} would take {size:,} characters"
                f" ({limit_text('TEMPLATE_MAX_VALUE')}, a list item counting {_ITEM_COST})"
            )
        if self.produced + size > TEMPLATE_MAX_PRODUCED:
            raise Exceeded(
                f"{what} would bring what the templates produce past"
                f" {TEMPLATE_MAX_PRODUCED:,} characters"
                f" ({limit_text('TEMPLATE_MAX_PRODUCED')})"
            )

    def produce(self, size: int, what: str) -> None:
        """Count ``size`` made by ``what``; past a bound it stops there."""
        self.check(size, what)
        self.produced += size


_BUDGET: ContextVar[Budget | None] = ContextVar("polymagic_template_budget", default=None)


@contextlib.contextmanager
def template_budget() -> Iterator[None]:
    """Count every template rendered inside against one set of bounds (one compile)."""
    if _BUDGET.get() is not None:
        yield
        return
    token = _BUDGET.set(Budget())
    try:
        yield
    finally:
        _BUDGET.reset(token)


def current_budget() -> Budget:
    """The budget of the compile under way (``render_value`` always opens one; a template
    rendered outside still gets per-value bounds)."""
    return _BUDGET.get() or Budget()


def budget_open() -> bool:
    """True inside ``template_budget()``."""
    return _BUDGET.get() is not None


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


_ITEMS_PER_STEP = 16
"""Items ``text_size`` looks at for one step of the budget."""


def text_size(value: Any, limit: int = TEMPLATE_MAX_VALUE) -> int:
    """About how long ``value`` is as text (Jinja's ``str()``), counted only up to just past
    ``limit``: a list of a million references to one long text is long as text. Each container
    is charged to the budget (a step per ``_ITEMS_PER_STEP`` items) before it is looked into,
    so walking the same large value again and again runs out of steps, not of time."""
    total = 0
    pending = [value]
    budget = current_budget()
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, (list, tuple, set, frozenset, dict)):
            budget.spend(len(item) // _ITEMS_PER_STEP + 1, f"looking through {short(item)}")
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


def short(value: Any, width: int = 40) -> str:
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
        raise Exceeded(
            f"{what} is an integer of {value.bit_length():,} bits"
            f" ({limit_text('TEMPLATE_MAX_INT_BITS')})"
        )


def check_binop(operator: str, left: Any, right: Any, shown: str) -> None:
    """Refuse an operation whose result would be too large, before computing it."""
    a, b = _count(left), _count(right)
    if operator == "**" and a is not None and b is not None and b > 0 and abs(a) > 1:
        bits = b * math.log2(abs(a))
        if bits > TEMPLATE_MAX_INT_BITS:
            raise Exceeded(
                f"{shown} would be an integer of about {bits:,.0f} bits"
                f" ({limit_text('TEMPLATE_MAX_INT_BITS')})"
            )
    elif operator == "*" and a is not None and b is not None:
        bits = a.bit_length() + b.bit_length()
        if bits > TEMPLATE_MAX_INT_BITS:
            raise Exceeded(
                f"{shown} would be an integer of about {bits:,} bits"
                f" ({limit_text('TEMPLATE_MAX_INT_BITS')})"
            )
    elif operator == "*" and (a is not None or b is not None):
        times, sequence = (a, right) if a is not None else (b, left)
        if isinstance(sequence, _SIZED) and times is not None and times > 0:
            current_budget().check(_cost(sequence, times), shown)
    elif operator == "+" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
        current_budget().check(_cost(left) + _cost(right), shown)
    elif operator == "%" and isinstance(left, str):
        current_budget().check(_percent_estimate(left, right), shown)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _percent_estimate(text: str, args: Any) -> int:
    """An upper bound of ``text % args``: each spec as long as the longest argument plus the
    widest width."""
    values = list(args.values()) if isinstance(args, Mapping) else args
    values = list(values) if isinstance(values, tuple) else [values]
    longest = max((text_size(v) for v in values), default=0)
    widths = [0]
    for match in _PERCENT_SPEC.finditer(text):
        for number in match.groups():
            if number == "*":
                widths += [v for v in values if _count(v) is not None]
            elif number:
                widths.append(int(number))
    return len(text) + text.count("%") * (longest + max(widths))


def check_result(value: Any, what: str) -> Any:
    if isinstance(value, _SIZED):
        current_budget().produce(_cost(value), what)
    else:
        _int_bits(value, what)
    return value
