"""The quick start in a real JupyterLab, driven in Debian's Chromium with Playwright.

``jupyter lab`` (from the venv) serves a scratch copy of ``notebooks/quick-start.ipynb`` on
127.0.0.1 with a token; its kernels run the project venv's Python against the test cluster
(``kernel_env``: the kernelspec ``python3`` is shadowed by one that runs ``.venv/bin/python``
with the cluster's variables). Chromium opens the notebook, runs all cells and waits for the
progress widget's final state; screenshots go to ``test-output/browser/``. The server is stopped
by PID afterwards, also on failure.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest

from tests.notebook.browser import SECOND, browse, run_all_cells, wait_kernel_idle
from tests.notebook.kernel_env import (
    KERNEL_NAME,
    VENV_PYTHON,
    KernelEnv,
    LabServer,
    check_notebook,
    serve_notebook,
    summarize,
)
from tests.notebook.test_notebooks_execute import EXPECTATIONS

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

NOTEBOOK = "quick-start.ipynb"
IMAGE = re.compile(r"registry\.example\.com/org/polyaxon/polyaxon-quick-start@sha256:[0-9a-f]{64}")
DOCKERFILE_FROM = "FROM tensorflow/tensorflow:2.0.1-py3"
BUILD_TIMEOUT = 180 * SECOND


@pytest.fixture
def lab(kernel_env: KernelEnv, tmp_path: Path) -> Iterator[LabServer]:
    with serve_notebook(NOTEBOOK, kernel_env, tmp_path) as server:
        yield server


def test_quick_start_runs_all_cells_in_jupyterlab(
    chromium: Path, lab: LabServer, browser_output: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    specs = lab.api("GET", "/api/kernelspecs")
    argv = specs["kernelspecs"][KERNEL_NAME]["spec"]["argv"]
    assert argv[0] == str(VENV_PYTHON), f"the server's {KERNEL_NAME} kernelspec runs {argv}"

    # a fresh, empty --user-data-dir
    with browse(chromium, lab, browser_output, "quick-start", tmp_path / "chromium-profile") as run:
        page = run.page
        notebook = run.open_notebook(NOTEBOOK)
        page.screenshot(path=run.shot("1-opened"))

        run_all_cells(page)
        run.mark("run all")

        # The progress widget's final state: `succeeded` and the pushed image.
        progress = notebook.locator(".jp-OutputArea-output .widget-vbox").filter(
            has_text="polymagic build"
        )
        expect(progress.first).to_be_visible(timeout=60 * SECOND)
        expect(progress.first).to_contain_text("succeeded", timeout=BUILD_TIMEOUT)
        expect(notebook.get_by_text(IMAGE).first).to_be_visible(timeout=30 * SECOND)
        run.mark("build succeeded")
        _wait_all_executed(page, notebook, 60 * SECOND)
        wait_kernel_idle(page, 30 * SECOND)
        run.mark("all cells executed")

        shown = _widget_text(progress.first)
        assert IMAGE.search(shown), f"the progress widget does not show the image: {shown!r}"
        dockerfile = notebook.locator(".jp-OutputArea-output").filter(has_text=DOCKERFILE_FROM)
        expect(dockerfile.first).to_be_visible()
        page_text = notebook.inner_text()
        for bad in ("Error displaying widget", "Loading widget...", "Traceback (most recent"):
            assert bad not in page_text, f"the notebook page shows {bad!r}"

        # JupyterLab scrolls inside its panel, so a full-page shot is the viewport: shoot the
        # outputs themselves too.
        dockerfile.first.screenshot(path=run.shot("2-dockerfile"))
        progress.first.screenshot(path=run.shot("3-progress"))
        progress.first.scroll_into_view_if_needed()
        page.screenshot(path=run.shot("4-page"))

        saved = _save_and_read(page, lab.root_dir / NOTEBOOK, 30.0)
        run.mark("saved")
        problems = check_notebook(saved, EXPECTATIONS[NOTEBOOK])
        assert not problems, (
            "the notebook JupyterLab saved falls short:\n- "
            + "\n- ".join(problems)
            + f"\n\n{summarize(saved)}"
        )


def _wait_all_executed(page: Page, notebook: Locator, timeout: int) -> None:
    """Every code cell has an execution number (none is still ``[*]`` or ``[ ]``)."""
    deadline = time.monotonic() + timeout / SECOND
    while True:
        prompts = [
            p.strip() for p in notebook.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        ]
        if prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"cells not all executed after {timeout // SECOND}s: {prompts}")
        page.wait_for_timeout(250)


def _widget_text(widget: Locator) -> str:
    """A widget's visible text with the values of its inputs (a Text widget shows the image)."""
    values: list[str] = widget.locator("input").evaluate_all(
        "(inputs) => inputs.map((i) => i.value)"
    )
    return widget.inner_text() + "\n" + "\n".join(values)


def _save_and_read(page: Page, path: Path, timeout: float) -> nbformat.NotebookNode:
    """Save with Ctrl+S and read the file back once it holds outputs."""
    before = path.stat().st_mtime_ns
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first.click(
        position={"x": 5, "y": 5}
    )
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.stat().st_mtime_ns != before:
            nb: nbformat.NotebookNode | None
            try:
                nb = nbformat.read(path, as_version=4)
            except (json.JSONDecodeError, nbformat.reader.NotJSONError):
                nb = None  # caught mid-write
            if nb is not None and any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
                return nb
        time.sleep(0.25)
    raise AssertionError(f"JupyterLab did not save {path.name} with outputs within {timeout:.0f}s")
