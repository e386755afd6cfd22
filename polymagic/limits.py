"""Every bound polymagic puts on what it reads and on the templates it renders, in one place.

A shared operation file, a pasted catalog or a template can be hostile or just absurd; each of
these bounds turns such input into one clear error (naming the bound and its value) instead of
minutes of work or gigabytes of memory. Real documents stay far below all of them. The figures
assume PyYAML with libyaml (the wheels ship it); the pure-Python parser is slower.
"""

from __future__ import annotations

__all__ = [
    "DOCUMENT_MAX_DEPTH",
    "INPUT_MAX_BYTES",
    "LITERAL_MAX_CHARS",
    "TEMPLATE_MAX_INT_BITS",
    "TEMPLATE_MAX_PRODUCED",
    "TEMPLATE_MAX_RERENDERS",
    "TEMPLATE_MAX_SOURCE_CHARS",
    "TEMPLATE_MAX_STEPS",
    "TEMPLATE_MAX_TAGS",
    "TEMPLATE_MAX_VALUE",
    "YAML_MAX_NODES",
    "limit_text",
]

# -- reading ------------------------------------------------------------------------------------

INPUT_MAX_BYTES = 64 * 1024 * 1024
"""Largest file or standard input polymagic reads (operations, components, catalogs)."""

YAML_MAX_NODES = 250_000
"""Most nodes one YAML document may hold, counting an aliased subtree once per use: a few
hundred bytes of aliases cannot become gigabytes. Real operations have a few hundred nodes."""

DOCUMENT_MAX_DEPTH = 64
"""Deepest nesting of mappings and lists in a document."""

# -- templates (counted over one compile) -------------------------------------------------------

TEMPLATE_MAX_TAGS = 10_000
"""``{{ ... }}`` and ``{% ... %}`` tags compiled in total (Jinja takes ~0.1 ms and ~10 kB each)."""

TEMPLATE_MAX_SOURCE_CHARS = 4 * 1024 * 1024
"""Characters of template text compiled in total."""

TEMPLATE_MAX_VALUE = 64 * 1024 * 1024
"""Largest value one operator, call or rendering may produce, in characters (a list item counts
as 8, the size of its pointer)."""

TEMPLATE_MAX_PRODUCED = 256 * 1024 * 1024
"""Characters produced by template operators, calls and output in total (counted as above)."""

TEMPLATE_MAX_STEPS = 200_000
"""Loop iterations, calls and operator uses in total (a macro call costs ~8 µs, so the bound is
reached within about two seconds whatever the template does)."""

TEMPLATE_MAX_INT_BITS = 65_536
"""Largest integer a template may compute, in bits (about 19,700 decimal digits)."""

TEMPLATE_MAX_RERENDERS = 20
"""How many times a template's output may itself be rendered again (a param that holds a
template naming another param)."""

LITERAL_MAX_CHARS = 1024 * 1024
"""Characters of run text read as Python literals in total (as Polyaxon does after templating);
text that cannot be a literal, such as a shell command, is not counted."""


def limit_text(name: str) -> str:
    """How a message names a bound: ``"polymagic's limit YAML_MAX_NODES = 250,000"``."""
    value = globals()[name]
    return f"polymagic's limit {name} = {value:,}"
