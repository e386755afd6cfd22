"""Where user settings come from: the connections catalog's file, environment variable or
user config file, in a documented order of precedence.

Precedence for connections (first found wins):
  1. an explicit file (``--connections FILE`` / the ``connections_file`` setting);
  2. ``POLYMAGIC_CONNECTIONS``: a path to a YAML file, or the YAML list itself;
  3. ``$XDG_CONFIG_HOME/polymagic/connections.yaml`` (default ``~/.config/polymagic/``);
  4. none: an empty catalog (builds still render; the registry gets no URL or credentials).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from polymagic.render.compiler import CompiledBuild
    from polymagic.spec.connections import ConnectionCatalog

__all__ = [
    "CONNECTIONS_ENV",
    "ConnectionsSource",
    "compile_with_connections",
    "find_connections",
    "user_config_dir",
]

CONNECTIONS_ENV = "POLYMAGIC_CONNECTIONS"


@dataclass(frozen=True)
class ConnectionsSource:
    """A loaded catalog and a human description of where it came from."""

    catalog: ConnectionCatalog
    origin: str
    explicit: bool = True
    """The user gave this catalog (a file, the variable or the user config file): a connection
    it lacks is then an error, not a warning."""


def user_config_dir() -> Path:
    """polymagic's directory in the user's config home."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "polymagic"


def find_connections(explicit: str | Path | None = None) -> ConnectionsSource:
    """The connections catalog by the precedence in this module's docstring."""
    # The spec layer (pydantic's validators) loads here, not with the module: `polymagic
    # --help` and the commands that read no catalog never pay for it.
    from polymagic.spec.connections import ConnectionCatalog
    from polymagic.spec.loader import load_connections

    if explicit:
        return ConnectionsSource(load_connections(Path(explicit)), f"file {explicit}")
    from_env = os.environ.get(CONNECTIONS_ENV, "").strip()
    if from_env:
        if from_env.startswith(("[", "-", "{")) or "\n" in from_env:
            return ConnectionsSource(load_connections(from_env), f"${CONNECTIONS_ENV}")
        return ConnectionsSource(
            load_connections(Path(from_env)), f"${CONNECTIONS_ENV} ({from_env})"
        )
    user_file = user_config_dir() / "connections.yaml"
    if user_file.exists():  # read with the loader's checks: a FIFO or folder here is an error
        return ConnectionsSource(load_connections(user_file), f"file {user_file}")
    return ConnectionsSource(ConnectionCatalog(), "none configured", explicit=False)


def compile_with_connections(
    source: str | Path | Mapping[str, Any],
    connections: ConnectionsSource,
    *,
    params: Sequence[str] | Mapping[str, Any] = (),
    namespace: str | None = None,
) -> CompiledBuild:
    """Compile against the catalog found for the user; a connection missing from a catalog the
    user gave is refused (``connection_checks``), with none it stays a warning."""
    from polymagic.render.compiler import compile_operation
    from polymagic.render.connection_checks import check_catalog_has_connections

    build = compile_operation(
        source, params=params, connections=connections.catalog, namespace=namespace
    )
    if connections.explicit:
        check_catalog_has_connections(build, connections.catalog, connections.origin)
    return build
