"""Opening the transport of one question to a registry: a test's fake when given, else an
:class:`~polymagic.registry.transport.HttpTransport` of the question's own, under its one
deadline and closed when the question is answered. The check, the tagging and the image reading
ask their questions through :func:`over_transport`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from polymagic.registry.transport import HttpTransport, Transport, TransportUnusable

__all__ = ["over_transport"]

_T = TypeVar("_T")


def over_transport(
    host: str,
    run: Callable[[Transport], _T],
    unusable: Callable[[str], _T],
    *,
    transport: Transport | None = None,
    insecure: bool = False,
    skip_tls_verify: bool = False,
    ca_file: str | None = None,
    timeout: float,
) -> _T:
    """``run`` over ``transport`` when one is given (a test's fake), else over an
    :class:`HttpTransport` of its own to ``host`` under the one ``timeout``, closed afterwards;
    ``unusable(reason)`` when that cannot be set up (a CA file that cannot be used, said at
    once for HTTPS)."""
    if transport is not None:
        return run(transport)
    try:
        own = HttpTransport(
            host,
            timeout=timeout,
            skip_tls_verify=skip_tls_verify,
            ca_file=ca_file,
            load_tls=not insecure,
        )
    except TransportUnusable as error:
        return unusable(str(error))
    with own:
        return run(own)
