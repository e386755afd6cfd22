"""An in-process IPython shell for tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets.config import Config

__all__ = ["cluster_shell", "loaded_shell", "new_shell", "run"]


def new_shell() -> InteractiveShell:
    """The shell instance, its history kept in memory: a history file under a test's HOME is
    gone by the time IPython closes it at interpreter exit ("attempt to write a readonly
    database" after the run)."""
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    return InteractiveShell.instance(config=config)


def _with_polymagic() -> Iterator[InteractiveShell]:
    """A new shell with polymagic loaded, unloaded and cleared again afterwards."""
    ip = new_shell()
    ip.run_line_magic("load_ext", "polymagic")
    yield ip
    ip.run_line_magic("unload_ext", "polymagic")
    InteractiveShell.clear_instance()


def loaded_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """A shell with polymagic loaded and no cluster, no user config, no ``POLYMAGIC_*``: each
    test starts from nothing it did not set up itself (HOME and the working folder are
    ``tmp_path``)."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    for name in list(os.environ):
        if name.startswith("POLYMAGIC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    yield from _with_polymagic()


def cluster_shell(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kubeconfig: Path,
    namespace: str,
    catalog: list[dict[str, Any]],
) -> Iterator[InteractiveShell]:
    """A shell with polymagic loaded that builds on a test cluster: ``kubeconfig``, the
    build ``namespace`` and a connections ``catalog`` written under ``tmp_path`` (the working
    folder)."""
    import yaml

    (tmp_path / "connections.yaml").write_text(yaml.safe_dump(catalog))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("POLYMAGIC_CONNECTIONS", str(tmp_path / "connections.yaml"))
    monkeypatch.setenv("POLYMAGIC_NAMESPACE", namespace)
    monkeypatch.chdir(tmp_path)
    yield from _with_polymagic()


def run(shell: InteractiveShell, code: str) -> tuple[Any, Any]:
    """Run a cell; its result and what it displayed and printed."""
    run_cell: Callable[[str], Any] = shell.run_cell  # IPython leaves it unannotated
    with capture_output() as captured:
        result = run_cell(code)
    return result, captured
