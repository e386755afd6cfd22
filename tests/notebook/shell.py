"""An in-process IPython shell for tests."""

from __future__ import annotations

from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

__all__ = ["new_shell"]


def new_shell() -> InteractiveShell:
    """The shell instance, its history kept in memory: a history file under a test's HOME is
    gone by the time IPython closes it at interpreter exit ("attempt to write a readonly
    database" after the run)."""
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    return InteractiveShell.instance(config=config)
