"""The Jinja2 sandbox templates are rendered in: Jinja with no access to Python internals,
every loop, call, operator and filter counted and size-checked by ``template_bounds``.

Importing this module imports Jinja2; ``templating`` does so only when a document holds a
template. Pure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2 import TemplateError, nodes
from jinja2.compiler import CodeGenerator, Frame

from polymagic.spec.template_bounds import (
    call_estimate,
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
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.filters[_LOOP_FILTER] = _bounded_loop

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        current_budget().step()
        shown = f"`{short(left)} {operator} {short(right)}`"
        check_binop(operator, left, right, shown)
        return check_result(self.binop_table[operator](left, right), shown)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        current_budget().step()
        target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
        name = getattr(target, "__name__", "")
        owner = getattr(target, "__self__", None)
        what = f"`{name}(…)`"
        estimate = call_estimate(name, owner, args, kwargs)
        if estimate:
            current_budget().check(estimate, what)
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(owner, (list, dict, set)):  # a method that grew its object (append)
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
    """Every ``{{ ... }}`` value before it becomes text: a long one stops here."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        current_budget().check(text_size(value), f"the text of {short(value)}")
    return value


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)  # keeps Jinja's pass_context / pass_environment marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        current_budget().step()
        values = [a for a in args if not isinstance(a, _JINJA_PASSED)]
        if values:
            estimate = call_estimate(name, values[0], tuple(values[1:]), kwargs)
            if estimate:
                current_budget().check(estimate, f"`|{name}`")
        return check_result(function(*args, **kwargs), f"`|{name}`")

    return bounded


_JINJA_PASSED = (jinja2.runtime.Context, jinja2.Environment, nodes.EvalContext)
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
