"""Where connections come from, and in which order."""

from __future__ import annotations

from pathlib import Path

import pytest

from polymagic.config import find_connections
from polymagic.errors import ConnectionsError

CATALOG = "- {name: %s, kind: registry, schema: {url: r.io}}\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("POLYMAGIC_CONNECTIONS", raising=False)


def test_nothing_configured_gives_an_empty_catalog() -> None:
    source = find_connections()
    assert source.catalog.names() == []
    assert source.origin == "none configured"


def test_precedence_explicit_then_env_then_user_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "config" / "polymagic" / "connections.yaml"
    user.parent.mkdir(parents=True)
    user.write_text(CATALOG % "user")
    assert find_connections().catalog.names() == ["user"]
    env_file = tmp_path / "env.yaml"
    env_file.write_text(CATALOG % "env")
    monkeypatch.setenv("POLYMAGIC_CONNECTIONS", str(env_file))
    assert find_connections().catalog.names() == ["env"]
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text(CATALOG % "explicit")
    assert find_connections(explicit).catalog.names() == ["explicit"]


def test_env_may_hold_the_yaml_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYMAGIC_CONNECTIONS", CATALOG % "inline")
    assert find_connections().catalog.names() == ["inline"]


def test_a_user_connections_path_that_is_not_a_file_is_an_error_not_ignored(
    tmp_path: Path,
) -> None:
    user = tmp_path / "config" / "polymagic" / "connections.yaml"
    user.mkdir(parents=True)
    with pytest.raises(
        ConnectionsError, match="it is a directory; give the path of a regular file"
    ):
        find_connections()


def test_every_source_is_read_with_the_same_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"- {name: caf\xe9, kind: registry}\n")
    with pytest.raises(ConnectionsError, match="line 1: not UTF-8 text"):
        find_connections(bad)
    monkeypatch.setenv("POLYMAGIC_CONNECTIONS", str(bad))
    with pytest.raises(ConnectionsError, match="line 1: not UTF-8 text"):
        find_connections()
    monkeypatch.setenv(
        "POLYMAGIC_CONNECTIONS", "- {name: a, kind: registry}\n- {name: b, name: c}\n"
    )
    with pytest.raises(ConnectionsError, match=r"line 2: \[1\]\.name: duplicate key `name`"):
        find_connections()
