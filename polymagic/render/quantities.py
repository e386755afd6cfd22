"""Kubernetes resource quantities (``4Gi``, ``500m``, ``1e9``): reading them, and checking the
executor's resources before anything is submitted.

The grammar is the API server's (``resource.Quantity``): a number with an optional fraction,
then a binary suffix (``Ki`` ... ``Ei``), a decimal one (``n u m k M G T P E``) or an exponent
(``e3``, ``E-2``). A value the API server would refuse fails here with the field named, so
``--memory lots`` is a usage error at once rather than a refused pod after the preflight.
Pure; bounded (a quantity is read only up to 64 characters, its exponent to two digits).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from polymagic.errors import SpecError

__all__ = ["check_resources", "quantity_value"]

_MAX_TEXT = 64
_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<binary>[KMGTPE]i)|[eE](?P<exponent>[+-]?[0-9]{1,2})|(?P<decimal>[numkMGTPE]?))"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def quantity_value(quantity: object) -> Decimal | None:
    """The value of ``quantity`` (a string such as ``192Mi``, or a number), None when it is not
    a quantity the API server accepts for a resource (negative ones included)."""
    if isinstance(quantity, bool):
        return None
    if isinstance(quantity, int | float):
        value = Decimal(repr(quantity)) if isinstance(quantity, float) else Decimal(quantity)
        return value if value.is_finite() and value >= 0 else None
    if not isinstance(quantity, str) or len(quantity) > _MAX_TEXT:
        return None
    found = _QUANTITY.fullmatch(quantity)
    if found is None:
        return None
    number = Decimal(found.group("number"))
    if found.group("binary"):
        value = number * 1024 ** _BINARY[found.group("binary")]
    elif found.group("exponent") is not None:
        value = number.scaleb(int(found.group("exponent")))
    else:
        value = number.scaleb(_DECIMAL[found.group("decimal")])
    return value if value >= 0 else None


def check_resources(resources: Mapping[str, Any] | None, where: str = "resources") -> None:
    """Refuse a ``requests`` or ``limits`` amount that is not a quantity, naming it."""
    if not resources:
        return
    for kind in ("requests", "limits"):
        amounts = resources.get(kind)
        if amounts is None:
            continue
        if not isinstance(amounts, Mapping):
            raise SpecError(  # the path leads the message, once: it is in ``path``
                "must be a mapping of resource names to amounts, e.g. {memory: 4Gi}",
                path=f"{where}.{kind}",
            )
        for name, amount in amounts.items():
            if quantity_value(amount) is None:
                shown = str(amount)[:_MAX_TEXT]
                raise SpecError(
                    f"`{shown}` is not a Kubernetes quantity; write it"
                    " like 4Gi or 512Mi (memory, ephemeral-storage) or 2 or 500m (cpu)",
                    path=f"{where}.{kind}.{name}",
                )
