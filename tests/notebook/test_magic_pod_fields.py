"""``%%polybuild --allow-pod-field NAME``: the notebook's manifests view lists the operation's
widening pod fields with their verdict; the option is the command line's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from IPython.core.interactiveshell import InteractiveShell

from tests.data import SEED
from tests.notebook.shell import loaded_shell, run


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    yield from loaded_shell(tmp_path, monkeypatch)


def _operation() -> str:
    op: dict[str, Any] = yaml.safe_load(SEED)
    op["runPatch"]["container"] = {"securityContext": {"privileged": True}}
    op["runPatch"]["environment"] = {"hostNetwork": True}
    return yaml.safe_dump(op)


def test_the_manifests_view_lists_allowed_and_refused_fields(shell: InteractiveShell) -> None:
    result, captured = run(
        shell,
        "%%polybuild --dry-run --show manifests --allow-pod-field privileged\n" + _operation(),
    )
    assert result.success, captured.stdout
    (text,) = [
        o.data["text/plain"] for o in captured.outputs if "kind: Pod" in o.data["text/plain"]
    ]
    assert "# pod field privileged (run.container.securityContext.privileged: true)" in text
    assert "allowed (--allow-pod-field)" in text
    assert "refused at submission unless --allow-pod-field hostNetwork" in text


def test_an_unknown_field_name_is_refused_by_the_magic(shell: InteractiveShell) -> None:
    _, captured = run(shell, "%%polybuild --dry-run --allow-pod-field hostpid\n" + _operation())
    assert "invalid choice: 'hostpid'" in captured.stdout + captured.stderr
    assert not any("kind: Pod" in o.data.get("text/plain", "") for o in captured.outputs)
