"""The Jinja2 sandbox templates are rendered in: Jinja with no access to Python internals, and
only the filters, tests, methods and global functions of ``template_allowed``, each charged its
cost before it runs; every loop iteration, call and operator counted and size-checked by
``template_bounds``. Anything else is refused with a message naming it.

Importing this module imports Jinja2; ``templating`` does so only when a document holds a
template. Pure.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator, Sized
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2 import TemplateError, nodes
from jinja2.compiler import CodeGenerator, Frame

from polymagic.spec.template_allowed import (
    ALLOWED_GLOBALS,
    BYTES_PER_STEP,
    FILTER_COSTS,
    ITEM_COST,
    LAZY_FILTERS,
    REFUSED_GLOBALS,
    TEST_COSTS,
    NotAllowed,
    filter_cost,
    method_cost,
)
from polymagic.spec.template_bounds import (
    Exceeded,
    check_binop,
    check_result,
    current_budget,
    short,
    text_size,
)

__all__ = ["TemplateError", "compile_template"]


_LOOP_FILTER = "polymagic_bounded_loop"


@jinja2.pass_context  # never folded at compile time: it must run, and count, on every use
def _bounded_loop(_context: Any, iterable: Any) -> Iterator[Any]:
    """Every ``{% for %}`` iterates through this: one step per item."""
    budget = current_budget()
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

    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        # `a == b`, `x in a`: C code that reads its operands, charged first (a chain is
        # evaluated in full, then compared in order).
        self.write("environment.call_compare(")
        self.visit(node.expr, frame)
        for operand in node.ops:
            self.write(f", {operand.op!r}, ")
            self.visit(operand.expr, frame)
        self.write(")")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        # Jinja writes `a[1:]` as Python slicing: through getitem, a slice is charged first.
        self.write("environment.getitem(")
        self.visit(node.node, frame)
        self.write(", slice(")
        for index, part in enumerate((node.arg.start, node.arg.stop, node.arg.step)):
            if index:
                self.write(", ")
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
        self.write("))")

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
        self.filters["map_format"] = _map_format  # Polyaxon's engine adds it to Jinja's
        # Every name Jinja knows stays known, so that a refused one is named when it is used.
        self.filters = {
            name: _bounded(name, f, FILTER_COSTS, "filter", name in LAZY_FILTERS)
            for name, f in self.filters.items()
        }
        self.filters[_LOOP_FILTER] = _bounded_loop
        self.tests = {
            name: _bounded(name, t, TEST_COSTS, "test", False) for name, t in self.tests.items()
        }
        for name in REFUSED_GLOBALS:
            self.globals[name] = _refusing(f"the function `{name}`")
        # The refusing stand-ins run, to say what they stand for.
        called = (*ALLOWED_GLOBALS, *REFUSED_GLOBALS)
        self.allowed_calls = {id(self.globals[name]) for name in called}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        current_budget().step()
        shown = f"`{short(left)} {operator} {short(right)}`"
        check_binop(operator, left, right, shown)
        return check_result(self.binop_table[operator](left, right), shown)

    def call_compare(self, first: Any, *rest: Any) -> Any:
        """``first op1 second op2 third ...``, each comparison charged before it runs."""
        budget = current_budget()
        left, result = first, True
        for index in range(0, len(rest), 2):
            operator, right = rest[index], rest[index + 1]
            budget.step()
            read = _walk(right) if operator in ("in", "notin") else _walk(left)
            if operator not in ("in", "notin"):
                read = min(read, _walk(right))
            budget.spend(read // BYTES_PER_STEP, f"a `{operator}` comparison")
            result = _COMPARE[operator](left, right)
            if not result:
                return result
            left = right
        return result

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(argument, slice) and isinstance(obj, (str, list, tuple)):
            # A slice copies what it selects: checked and charged before it is made.
            taken = len(range(len(obj))[argument])
            size = taken if isinstance(obj, str) else taken * ITEM_COST
            budget = current_budget()
            budget.check(size, "a slice")
            budget.spend(size // BYTES_PER_STEP + 1, "a slice")
        return super().getitem(obj, argument)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        budget.step()
        target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
        name = getattr(target, "__name__", "")
        owner = getattr(target, "__self__", None)
        what = f"`{name}(…)`"
        if isinstance(obj, jinja2.Undefined):
            pass  # Jinja's own error names what is undefined
        elif isinstance(obj, jinja2.runtime.Macro):
            pass  # its body is charged as it runs
        elif id(obj) in self.allowed_calls:
            # range() costs a step; dict() and namespace() copy what they are given
            copied = sum(len(a) for a in args if isinstance(a, Sized)) + len(kwargs)
            budget.spend(copied // 16, what)
        elif isinstance(obj, jinja2.runtime.LoopContext) or isinstance(
            owner, jinja2.runtime.LoopContext
        ):
            pass  # loop.cycle(...), loop.changed(...)
        elif owner is not None and not isinstance(owner, type):
            try:
                steps, size = method_cost(owner, name, args, kwargs, _walk)
            except NotAllowed as refused:
                raise Exceeded(f"{refused} (the README lists those allowed)") from None
            budget.check(size, what)
            budget.spend(steps, what)
        else:
            raise Exceeded(
                f"calling `{short(obj)}` is not allowed in templates (the README lists the"
                " functions and methods allowed)"
            )
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(owner, (list, dict)):  # a method that grew its object (append): O(1)
            check_result(owner, what)
        return check_result(result, what)

    def concat_operands(self, operands: tuple[Any, ...]) -> tuple[Any, ...]:
        current_budget().step()
        current_budget().produce(sum(text_size(o) for o in operands), "a `~` concatenation")
        return operands


def _map_format(value: Any, pattern: Any, variable_name: str | None = None) -> str:
    """Polyaxon's ``map_format`` filter: ``pattern % value``, or with ``variable_name``
    ``pattern % {variable_name: value}``; bounded as the ``%`` operator is."""
    text = str(pattern)
    operand = {variable_name: value} if variable_name else value
    check_binop("%", text, operand, f"`{short(text)} | map_format`")
    result: str = text % operand
    check_result(result, "`map_format`")
    return result


def _finalize(value: Any) -> Any:
    """Every ``{{ ... }}`` value before it becomes text: a long one stops here, and a text is
    charged for the copy the output makes of it (inside ``{% set %}`` blocks, macros and
    ``{% filter %}`` blocks output is joined as it goes, not only at the end)."""
    if isinstance(value, str):
        if len(value) >= BYTES_PER_STEP:
            current_budget().spend(len(value) // BYTES_PER_STEP, f"writing {short(value)}")
    elif not isinstance(value, (int, float)) or isinstance(value, bool):
        size = text_size(value)
        current_budget().check(size, f"the text of {short(value)}")
        current_budget().spend(size // BYTES_PER_STEP, f"writing {short(value)}")
    return value


def _bounded(name: str, function: Any, costs: Any, kind: str, lazy: bool) -> Callable[..., Any]:
    """``function`` charged its cost (from ``costs``) before it runs; refused when not listed."""
    what = f"`|{name}`" if kind == "filter" else f"the test `{name}`"

    @functools.wraps(function)  # keeps Jinja's pass_context / pass_environment marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        budget.step()
        values = [a for a in args if not isinstance(a, _JINJA_PASSED)]
        value = values[0] if values else None
        try:
            steps, size = filter_cost(costs, name, value, tuple(values[1:]), kwargs, _walk)
        except NotAllowed as refused:
            reason = str(refused) if name in costs else f"the {kind} `{name}` is not allowed"
            raise Exceeded(f"{reason} in templates (the README lists those allowed)") from None
        budget.check(size, what)
        budget.spend(steps, what)
        result = function(*args, **kwargs)
        if lazy or (isinstance(result, Iterator) and not isinstance(result, str)):
            return _stepping(result)
        return check_result(result, what)

    return bounded


def _stepping(items: Any) -> Iterator[Any]:
    """An iterator a filter answered, charged a step per item it makes."""
    budget = current_budget()
    for item in items:
        budget.step()
        yield item


def _refusing(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise Exceeded(f"{what} is not allowed in templates (the README lists those allowed)")

    return refuse


_JINJA_PASSED = (jinja2.runtime.Context, jinja2.Environment, nodes.EvalContext)
_walk = functools.partial(text_size, limit=1 << 62)
"""A value's whole length as text: not cut at a bound, because every container it looks into
is charged first (a list of a thousand references to one 30 MB text is 30 GB to compare)."""
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gteq": operator.ge,
    "lt": operator.lt,
    "lteq": operator.le,
    "in": lambda left, right: left in right,
    "notin": lambda left, right: left not in right,
}
_ENV = _BoundedEnvironment()
_CACHED_TEMPLATE_CHARS = 4096


@functools.lru_cache(maxsize=512)
def _cached_template(text: str) -> jinja2.Template:
    return _ENV.from_string(text)


def compile_template(text: str) -> jinja2.Template:
    """``text`` compiled in the sandbox (kept for reuse when it is short)."""
    # Compiling a template costs far more than rendering it; components repeat the same ones.
    # Large ones are not kept: the cache lives as long as the process (a notebook kernel).
    if len(text) <= _CACHED_TEMPLATE_CHARS:
        return _cached_template(str(text))
    return _ENV.from_string(str(text))
