"""``%%polybuild --allow-pod-field NAME``: the notebook's manifests view lists the operation's
widening pod fields with their verdict; the option is the command line's."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from tests.data import SEED
from tests.notebook.shell import new_shell


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    for name in list(os.environ):
        if name.startswith("POLYMAGIC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    ip = new_shell()
    ip.run_line_magic("load_ext", "polymagic")
    yield ip
    ip.run_line_magic("unload_ext", "polymagic")
    InteractiveShell.clear_instance()


def _operation() -> str:
    op: dict[str, Any] = yaml.safe_load(SEED)
    op["runPatch"]["container"] = {"securityContext": {"privileged": True}}
    op["runPatch"]["environment"] = {"hostNetwork": True}
    return yaml.safe_dump(op)


def _run(shell: InteractiveShell, code: str) -> tuple[Any, Any]:
    run_cell: Callable[[str], Any] = shell.run_cell
    with capture_output() as captured:
        result = run_cell(code)
    return result, captured


def test_the_manifests_view_lists_allowed_and_refused_fields(shell: InteractiveShell) -> None:
    result, captured = _run(
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
    _, captured = _run(shell, "%%polybuild --dry-run --allow-pod-field hostpid\n" + _operation())
    assert "invalid choice: 'hostpid'" in captured.stdout + captured.stderr
    assert not any("kind: Pod" in o.data.get("text/plain", "") for o in captured.outputs)
