"""Checking the connections a compiled build names against the catalog the user has.

Two rules, both pure:

- with a catalog the user gave (``--connections``, ``POLYMAGIC_CONNECTIONS`` or the user config
  file), a connection it lacks is a typo, not a choice: refuse it, naming the catalog's names;
- with no catalog at all, rendering only warns, so a build can be looked at before credentials
  exist; but a build is never *submitted* to push to a destination whose connection is unknown:
  it would push without credentials, to Docker Hub, after the whole build.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from polymagic.errors import ConnectionsError

if TYPE_CHECKING:
    from polymagic.render.compiler import CompiledBuild
    from polymagic.spec.connections import ConnectionCatalog

__all__ = ["check_catalog_has_connections", "check_destination_connections_known"]


def _where_named(build: CompiledBuild, connection: str) -> str | None:
    for param in build.params.values():
        if param.connection == connection:
            return f"params.{param.name}.connection"
    return None


def check_catalog_has_connections(
    build: CompiledBuild, catalog: ConnectionCatalog, origin: str
) -> None:
    """Refuse a connection missing from a catalog the user gave explicitly (``origin`` says where
    it came from: ``file conn.yaml``, ``$POLYMAGIC_CONNECTIONS``, ...)."""
    if not build.missing_connections:
        return
    name = build.missing_connections[0]
    names = catalog.names()
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    listed = ", ".join(f"`{n}`" for n in names) if names else "no connections"
    hint = f"; did you mean `{close[0]}`?" if close else f": add `{name}` to it"
    raise ConnectionsError(
        f"connection `{name}` is not in the connections catalog ({origin}, which has {listed}){hint}",
        path=_where_named(build, name) or "run.connections",
    )


def check_destination_connections_known(build: CompiledBuild) -> None:
    """Refuse to submit a build whose image destination goes through an unknown connection."""
    for param in build.params.values():
        if param.type != "image" or not param.connection:
            continue
        if param.connection not in build.missing_connections:
            continue
        raise ConnectionsError(
            f"the destination `{param.value}` goes through connection `{param.connection}`, which"
            " no connections catalog defines: the build would push without credentials (and, with"
            " no registry host, to Docker Hub). Give the catalog with --connections FILE or"
            " $POLYMAGIC_CONNECTIONS (see the README's Connections section); nothing was submitted",
            path=f"params.{param.name}.connection",
        )
