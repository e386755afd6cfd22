"""What a template may call: the allow-list of filters, tests, methods and global functions, each
with the cost it is charged *before* it runs, computed from the sizes of its inputs.

A cost is ``(steps, size)``: ``steps`` drawn from the compile's budget of steps (one per item a
Python-level loop visits, one per ``BYTES_PER_STEP`` bytes that C code reads or writes), and
``size`` an upper bound of the result, in characters (a list item counting as
``ITEM_COST``), checked against the value bounds. Estimates look at lengths, never inside
values; a function that has to look inside (``join``, ``tojson``, ``string``) is charged for
what it visits as it visits it (``sized_walk``). Anything not listed is refused, naming it.

Chosen from what Polyaxon's own templates and its documented examples use (``{{ value }}``,
conditions, loops, ``join``, ``default``, the string methods) plus the common text filters.
Left out: ``attr``, ``pprint``, ``random`` (a build must not change between renders),
``striptags``, ``urlize``, ``xmlattr``, and the globals ``lipsum``, ``cycler``, ``joiner``.
Pure; no Jinja2.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Mapping, Sized
from typing import Any

__all__ = [
    "ALLOWED_GLOBALS",
    "BYTES_PER_STEP",
    "FILTER_COSTS",
    "ITEM_COST",
    "LAZY_FILTERS",
    "METHOD_COSTS",
    "REFUSED_FILTERS",
    "REFUSED_GLOBALS",
    "TEST_COSTS",
    "Cost",
    "NotAllowed",
    "Walker",
    "filter_cost",
    "method_cost",
]

Cost = tuple[int, int]
"""(steps charged before the call, an upper bound of the result's size in characters)."""
Walker = Callable[[Any], int]
"""Measures a value's length as text, charging the budget for every item it visits."""
Estimate = Callable[[Any, tuple[Any, ...], Mapping[str, Any], Walker], Cost]

BYTES_PER_STEP = 8192
"""Bytes C code handles for one step (a step is about what a macro call costs, ~8 µs)."""
ITEM_COST = 8
"""A container item is a pointer: it counts as 8 characters of size."""


class NotAllowed(Exception):
    """Raised for a filter, test, method or function outside the allow-list; the text names it."""


# -- sizes, without looking inside ------------------------------------------------------------


def _length(value: Any) -> int:
    """Characters of a text, else items of a container, else 1; never walks."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, range):
        return len(value)
    if isinstance(value, Sized):
        return len(value)
    return 1


def _size(value: Any) -> int:
    """What ``value`` holds, in characters: its text, or ``ITEM_COST`` per item."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, range):
        return 0
    if isinstance(value, Sized):
        return len(value) * ITEM_COST
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3 + 2
    return 24


def _bytes(value: Any) -> int:
    """Steps for C code that reads ``value`` once."""
    return _size(value) // BYTES_PER_STEP + 1


def _count(value: Any, default: int = 0) -> int:
    """``value`` as a non-negative count when it is an int, else ``default``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    return default


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


def _items(value: Any) -> int:
    """Items a Python-level loop over ``value`` visits (a text: its characters)."""
    return _length(value) + 1


# -- estimates ----------------------------------------------------------------------------------


def _constant(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    return 1, 64


def _same_size(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """A C-level pass making a result as long as its input (``upper``, ``trim``, ``safe``)."""
    return _bytes(value), _size(value) + 64


def _per_item(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """A Python-level loop over the items, making at most one result per item."""
    return _items(value), _items(value) * ITEM_COST


def _read_deep(value: Any, walk: Walker) -> int:
    """Steps for comparisons that may read every item in full (equal long texts compare to
    their end); the walk itself is charged as it goes."""
    return walk(value) // BYTES_PER_STEP if isinstance(value, Sized) else 0


def _sorting(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """A key per item (Python-level), then comparisons: about log2(n) per item, each of which
    may read the items in full."""
    n = _items(value)
    rounds = int(math.log2(n + 1)) + 1
    return n + n * rounds // 16 + _read_deep(value, walk) * rounds, n * ITEM_COST


def _extreme(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """``min`` / ``max``: a comparison per item, each of which may read the items in full."""
    return _items(value) + _read_deep(value, walk), 64


def _as_text(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """``str(value)``: as long as ``value`` is as text (walked, and charged while walked)."""
    size = walk(value)
    return size // BYTES_PER_STEP + 1, size


def _escaped(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """HTML escaping: a character becomes at most five (``&amp;``, ``&#34;``)."""
    size = len(value) if isinstance(value, str) else walk(value)
    return size // BYTES_PER_STEP + 1, 5 * size + 64


def _tojson(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """JSON, sorted keys, HTML-safe: a character becomes at most twelve (a surrogate pair as
    ``\\uXXXX\\uXXXX``)."""
    size = walk(value)
    return 4 * (size // BYTES_PER_STEP + 1), 12 * size + 64


def _urlencode(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """Percent-encoding, a Python-level step per 32 bytes: a character becomes up to twelve."""
    size = len(value) if isinstance(value, str) else walk(value)
    return size // 32 + _items(value), 12 * size + 64


def _wordwrap(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """``textwrap`` works in Python per chunk: a chunk can be one character (``width=1``)."""
    text = _size(value)
    wrapstring = _arg(args, kw, 2, "wrapstring")
    extra = len(wrapstring) if isinstance(wrapstring, str) else 1
    return text // 4 + 1, text * (1 + extra) + 64


def _width(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """Padding to a width (``center``, ``ljust``, ``rjust``, ``zfill``, ``truncate``)."""
    width = max([_count(a) for a in (*args, *kw.values())], default=0)
    return (_size(value) + width) // BYTES_PER_STEP + 1, _size(value) + width + 64


def _indent(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """A prefix (a width or a text) once per line."""
    prefix = _arg(args, kw, 0, "width")
    width = len(prefix) if isinstance(prefix, str) else _count(prefix, 4)
    lines = value.count("\n") + 1 if isinstance(value, str) else _items(value)
    size = _size(value) + lines * width + 64
    return size // BYTES_PER_STEP + 1, size


def _replace(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    old, new = _arg(args, kw, 0, "old"), _arg(args, kw, 1, "new")
    text = value if isinstance(value, str) else ""
    limit = _arg(args, kw, 2, "count")
    hits = len(text) + 1 if not isinstance(old, str) or not old else text.count(old)
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        hits = min(hits, limit)
    added = len(new) if isinstance(new, str) else 64
    size = len(text) + hits * added + 64
    return 2 * (size // BYTES_PER_STEP + 1), size


def _join(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """``items|join(separator)``: the items' text plus a separator between each two."""
    separator = _arg(args, kw, 0, "d")
    gap = len(separator) if isinstance(separator, str) else 0
    if not isinstance(value, Sized):
        return 1, 0  # a generator: its items are charged as they are made, the result after
    size = walk(value) + len(value) * gap
    return size // BYTES_PER_STEP + _items(value), size


def _str_join(owner: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """``separator.join(items)``."""
    items = args[0] if args else ()
    if not isinstance(items, Sized):
        return 1, 0
    size = walk(items) + len(items) * _size(owner)
    return size // BYTES_PER_STEP + _items(items), size


def _split(owner: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """At most one item per character (per separator), each a pointer and its text."""
    separator = _arg(args, kw, 0, "sep")
    gap = len(separator) if isinstance(separator, str) and separator else 1
    items = _size(owner) // gap + 1
    limit = _arg(args, kw, 1, "maxsplit")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        items = min(items, limit + 1)
    return _bytes(owner) + items // 64, _size(owner) + items * (ITEM_COST + 49)


def _translate(owner: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """Each character may become the longest replacement in the table."""
    table = args[0] if args else {}
    longest = 1
    if isinstance(table, Mapping):
        longest = max([walk(v) for v in table.values()] + [1])
    size = _size(owner) * longest + 64
    return _size(owner) // 64 + 1, size


def _expandtabs(owner: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    tab = _count(_arg(args, kw, 0, "tabsize"), 8)
    size = _size(owner) * max(tab, 1) + 64
    return size // BYTES_PER_STEP + 1, size


def _format_fields(text: str, args: tuple[Any, ...], kw: Mapping[str, Any]) -> tuple[int, int]:
    """(fields, widest width or precision) of a ``str.format`` text, nested ones resolved: a
    field's spec can take its width from an argument (``{:>{w}}``)."""
    numbers = [_count(a) for a in (*args, *kw.values())]
    fields = widest = 0
    for _, name, spec, _ in string.Formatter().parse(text):
        if name is None:
            continue
        fields += 1
        if spec and "{" in spec:
            widest = max([widest, *numbers])  # a nested field: any argument may be the width
        digits = "".join(c if c.isdigit() else " " for c in spec or "").split()
        widest = max([widest, *(int(d) for d in digits if len(d) < 12), 0])
        if any(len(d) >= 12 for d in digits):
            widest = 10**12
    return fields, widest


def _format(owner: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """``text.format(...)`` / ``format_map``: each field as long as the longest argument plus
    the widest width or precision."""
    text = owner if isinstance(owner, str) else ""
    values = [*args, *kw.values()]
    values += [v for a in args if isinstance(a, Mapping) for v in a.values()]
    longest = max([walk(v) for v in values] + [0])
    fields, widest = _format_fields(text, args, kw)
    size = len(text) + fields * (longest + widest) + 64
    return len(text) // 256 + size // BYTES_PER_STEP + 1, size


def _percent(owner: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """``text % args`` (the ``format`` filter): each ``%`` spec as long as the longest argument
    plus the widest width (a ``*`` width is an argument)."""
    text = str(owner) if isinstance(owner, str) else ""
    values: list[Any] = list(args) + list(kw.values())
    if len(values) == 1 and isinstance(values[0], (tuple, Mapping)):
        inner = values[0]
        values = list(inner.values()) if isinstance(inner, Mapping) else list(inner)
    longest = max([walk(v) for v in values] + [0])
    widest = max([_count(v) for v in values] + [0])
    digits = "".join(c if c.isdigit() else " " for c in text).split()
    widest = max([widest, *(int(d) if len(d) < 12 else 10**12 for d in digits)])
    size = len(text) + text.count("%") * (longest + widest) + 64
    return size // BYTES_PER_STEP + 1, size


def _batch(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    n = _items(value)
    return n, 2 * n * ITEM_COST


def _slice(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    slices = _count(_arg(args, kw, 0, "slices"), 1)
    n = _items(value)
    return n + slices, (n + slices) * ITEM_COST


def _sum(value: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    start = _arg(args, kw, 1, "start")
    if start is not None and not isinstance(start, (int, float)):
        # Summing lists or texts copies the growing result once per item: quadratic.
        raise NotAllowed("`|sum` adds numbers only: a `start` that is not a number is not allowed")
    return _items(value), 64


def _insert(owner: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """A list method that moves the items after a position (C-level)."""
    return _bytes(owner), ITEM_COST


def _extend(owner: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """``extend`` / ``update``: one Python-level step per item added."""
    added = sum(_items(a) for a in (*args, *kw.values())) + len(kw)
    return added, added * ITEM_COST * 2


def _copy(owner: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    return _bytes(owner), _size(owner) * 2 + 64


def _scan(owner: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """A C-level search, test or comparison that reads the owner (and its items) once and
    makes a small result."""
    read = walk(owner) + sum(walk(a) for a in args)
    return read // BYTES_PER_STEP + 1, 64


def _parts(owner: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    """``partition``, ``splitlines``: pieces of the owner, a line per character at most."""
    lines = _size(owner) + 1
    return _bytes(owner) + lines // 64, _size(owner) + lines * (ITEM_COST + 49)


def _list_sort(owner: Any, args: tuple[Any, ...], kw: Mapping[str, Any], walk: Walker) -> Cost:
    n = _items(owner)
    if kw.get("key") is not None:
        raise NotAllowed("`sort(key=...)` is not allowed: use the `|sort` filter")
    return int(n * math.log2(n + 1)) // 16 + 1, 64


FILTER_COSTS: dict[str, Estimate] = {
    **dict.fromkeys(
        ["abs", "d", "default", "filesizeformat", "first", "float", "int", "round", "length"],
        _constant,
    ),
    "count": _constant,
    "last": _per_item,
    "capitalize": _same_size,
    "lower": _same_size,
    "upper": _same_size,
    "trim": _same_size,
    "safe": _same_size,
    "reverse": _per_item,
    "title": _per_item,
    "wordcount": _same_size,
    "string": _as_text,
    "escape": _escaped,
    "e": _escaped,
    "forceescape": _escaped,
    "tojson": _tojson,
    "urlencode": _urlencode,
    "center": _width,
    "truncate": _width,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "replace": _replace,
    "join": _join,
    "format": _percent,
    "map_format": _percent,
    "list": _per_item,
    "items": _per_item,
    "unique": _sorting,
    "sort": _sorting,
    "dictsort": _sorting,
    "groupby": _sorting,
    "min": _extreme,
    "max": _extreme,
    "sum": _sum,
    "batch": _batch,
    "slice": _slice,
    "map": _per_item,
    "select": _per_item,
    "reject": _per_item,
    "selectattr": _per_item,
    "rejectattr": _per_item,
}
"""The filters a template may use, Jinja's and Polyaxon's ``map_format``."""

LAZY_FILTERS = frozenset(["map", "select", "reject", "selectattr", "rejectattr", "batch", "slice"])
"""Filters that answer an iterator: each item it yields is charged a step as it is made."""

REFUSED_FILTERS = ("attr", "pprint", "random", "striptags", "urlize", "xmlattr")

_SMALL_TESTS = [
    "boolean", "callable", "defined", "divisibleby", "escaped", "even", "false", "filter",
    "float", "integer", "iterable", "mapping", "none", "number", "odd", "sameas", "sequence",
    "string", "test", "true", "undefined",
]  # fmt: skip
_COMPARING_TESTS = [
    "!=", "<", "<=", "==", ">", ">=", "eq", "equalto", "ge", "greaterthan", "gt", "in", "le",
    "lessthan", "lower", "lt", "ne", "upper",
]  # fmt: skip
TEST_COSTS: dict[str, Estimate] = {
    **dict.fromkeys(_SMALL_TESTS, _constant),
    **dict.fromkeys(_COMPARING_TESTS, _scan),
}
"""Every one of Jinja's tests: those that compare read their operands once (C-level)."""

_STR_METHODS: dict[str, Estimate] = {
    **dict.fromkeys(["capitalize", "casefold", "lower", "upper", "swapcase", "title"], _same_size),
    **dict.fromkeys(["strip", "lstrip", "rstrip", "removeprefix", "removesuffix"], _same_size),
    **dict.fromkeys(["center", "ljust", "rjust", "zfill"], _width),
    **dict.fromkeys(["count", "find", "rfind", "index", "rindex", "startswith"], _scan),
    **dict.fromkeys(["endswith", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit"], _scan),
    **dict.fromkeys(["islower", "isnumeric", "isspace", "istitle", "isupper"], _scan),
    **dict.fromkeys(["split", "rsplit"], _split),
    **dict.fromkeys(["partition", "rpartition", "splitlines"], _parts),
    "replace": _replace,
    "join": _str_join,
    "format": _format,
    "format_map": _format,
    "translate": _translate,
    "expandtabs": _expandtabs,
}
_LIST_METHODS: dict[str, Estimate] = {
    "append": _constant,
    "pop": _insert,
    "insert": _insert,
    "extend": _extend,
    "count": _scan,
    "index": _scan,
    "remove": _scan,
    "reverse": _insert,
    "copy": _copy,
    "clear": _insert,
    "sort": _list_sort,
}
_DICT_METHODS: dict[str, Estimate] = {
    "get": _constant,
    "items": _constant,
    "keys": _constant,
    "values": _constant,
    "pop": _constant,
    "setdefault": _constant,
    "update": _extend,
    "copy": _copy,
    "clear": _insert,
}
METHOD_COSTS: dict[type, dict[str, Estimate]] = {
    str: _STR_METHODS,
    list: _LIST_METHODS,
    dict: _DICT_METHODS,
    tuple: {"count": _scan, "index": _scan},
}
"""The methods of texts, lists, dicts and tuples a template may call."""

ALLOWED_GLOBALS = ("dict", "namespace", "range")
REFUSED_GLOBALS = ("cycler", "joiner", "lipsum")


def filter_cost(
    table: Mapping[str, Estimate],
    name: str,
    value: Any,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    walk: Walker,
) -> Cost:
    """The cost of the filter or test ``name`` on ``value``; raises NotAllowed for others."""
    estimate = table.get(name)
    if estimate is None:
        raise NotAllowed(f"`{name}` is not allowed")
    return estimate(value, args, kwargs, walk)


def method_cost(
    owner: Any, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], walk: Walker
) -> Cost:
    """The cost of ``owner.name(*args, **kwargs)``; raises NotAllowed for a method not listed."""
    for kind, methods in METHOD_COSTS.items():
        if isinstance(owner, kind):
            estimate = methods.get(name)
            if estimate is None:
                break
            return estimate(owner, args, kwargs, walk)
    kind_name = type(owner).__name__
    raise NotAllowed(f"the method `{name}` of a {kind_name} is not allowed in templates")
