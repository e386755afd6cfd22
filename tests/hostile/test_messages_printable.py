"""Errors and build lists quote what the cluster and the executor said: shown, never obeyed."""

from __future__ import annotations

from polymagic.cli.common import flat_message
from polymagic.errors import BuildFailed
from polymagic.notebook.status_views import BuildList
from polymagic.outcome.result import BuildStatus

HOSTILE = "exit 3\x1b[2J\x1bc\x1b]0;pwned\x07 \x9b31m\x07done"


def _controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F]


def test_a_build_failure_in_a_notebook_shows_no_control_sequence() -> None:
    error = BuildFailed(name="b", reason="Error", exit_code=3, detail=f"failed:\n{HOSTILE}")
    (shown,) = error._render_traceback_()
    assert _controls(shown) == []
    assert "pwned" not in shown
    assert "exit 3" in shown
    assert "done" in shown


def test_a_cli_error_line_shows_no_control_sequence() -> None:
    line = flat_message(BuildFailed(name="b", reason="Error", exit_code=3, detail=HOSTILE))
    assert _controls(line) == []
    assert "\n" not in line


def test_a_build_list_shows_no_control_sequence() -> None:
    status = BuildStatus("build-1", "ml", "Failed", HOSTILE, "2026-01-01", (HOSTILE,))
    view = BuildList([status])
    text = repr(view)
    bundle = view._repr_mimebundle_()
    for shown in (text, bundle["text/html"]):
        assert _controls(shown.replace("\n", "")) == []
        assert "pwned" not in shown
    assert "exit 3" in text
