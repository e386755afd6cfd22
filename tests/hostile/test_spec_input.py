"""Hostile command-line input: bytes that are not UTF-8, and paths that are not regular files
(a FIFO would block the reader forever, /dev/zero never ends). Each runs in a child bounded to
10 s and 1 GiB and must end with exit 2 and one clear line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hostile.bounded import run_cli_bounded
from tests.hostile.test_spec_yaml import refused

QUICK_START = "notebooks/quick-start.yaml"


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "connections.yaml"
    os.mkfifo(path)
    return path


def isolated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment without the user's own polymagic settings."""
    env = {k: v for k, v in os.environ.items() if k != "POLYMAGIC_CONNECTIONS"}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env.update(extra)
    return env


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"kind: operation\nhubRef: kaniko\nname: caf\xe9\n", id="latin-1"),
        pytest.param(b"\xff\xfekind: operation\n", id="utf-16-bom"),
        pytest.param(b"kind: operation\n\x80\x81\x82\n", id="stray-bytes"),
    ],
)
@pytest.mark.parametrize("command", ["render", "build"])
def test_stdin_that_is_not_utf8_is_one_line(data: bytes, command: str) -> None:
    line = refused(run_cli_bounded([command, "-"], stdin=data), "not UTF-8 text", "line ")
    assert "Traceback" not in line


def test_connections_from_a_fifo_are_refused(fifo: Path, tmp_path: Path) -> None:
    refused(
        run_cli_bounded(
            ["render", QUICK_START, "--connections", str(fifo)], env=isolated_env(tmp_path)
        ),
        f"cannot read {fifo}: it is a named pipe (FIFO)",
    )


def test_connections_from_a_fifo_named_by_the_environment_are_refused(
    fifo: Path, tmp_path: Path
) -> None:
    env = isolated_env(tmp_path, POLYMAGIC_CONNECTIONS=str(fifo))
    refused(run_cli_bounded(["render", QUICK_START], env=env), "named pipe (FIFO)")


def test_a_fifo_as_the_user_connections_file_is_refused(tmp_path: Path) -> None:
    user_file = tmp_path / "config" / "polymagic" / "connections.yaml"
    user_file.parent.mkdir(parents=True)
    os.mkfifo(user_file)
    refused(
        run_cli_bounded(["render", QUICK_START], env=isolated_env(tmp_path)),
        f"cannot read {user_file}: it is a named pipe (FIFO)",
    )


def test_an_operation_file_that_is_a_fifo_is_named_as_one(fifo: Path) -> None:
    refused(run_cli_bounded(["render", str(fifo)]), "it is a named pipe (FIFO)")


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        pytest.param(["render", "/dev/zero"], "a character device", id="operation"),
        pytest.param(
            ["render", QUICK_START, "--connections", "/dev/zero"],
            "a character device",
            id="connections",
        ),
        pytest.param(["render", QUICK_START, "--connections", "/"], "a directory", id="folder"),
    ],
)
def test_devices_and_folders_are_refused(argv: list[str], kind: str, tmp_path: Path) -> None:
    refused(run_cli_bounded(argv, env=isolated_env(tmp_path)), f"it is {kind}")


def test_endless_stdin_stops_at_the_size_bound() -> None:
    # /dev/zero on stdin: read up to the bound, then refused without parsing anything.
    with open("/dev/zero", "rb") as zero:
        data = zero.read(70 * 1024 * 1024)
    refused(run_cli_bounded(["render", "-"], stdin=data), "INPUT_MAX_BYTES")
