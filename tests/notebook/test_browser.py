"""The quick start in a real JupyterLab, driven in Debian's Chromium with Playwright.

``jupyter lab`` (from the venv) serves a scratch copy of ``notebooks/quick-start.ipynb`` on
127.0.0.1 with a token; its kernels run the project venv's Python against the test cluster
(``kernel_env``: the kernelspec ``python3`` is shadowed by one that runs ``.venv/bin/python``
with the cluster's variables). Chromium opens the notebook, runs all cells and waits for the
build's end; screenshots go to ``test-output/browser/``. The simulated node holds the build
running until the test has seen the live log box follow its newest line; then the widget's place
must hold the static final state, its log box at its last line. The server is stopped by PID
afterwards, also on failure.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest

from tests.cluster.simulated_node import Scenario, SimulatedNode
from tests.notebook.browser import (
    AT_BOTTOM,
    SECOND,
    browse,
    log_box_position,
    run_all_cells,
    wait_kernel_idle,
)
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
RUNS = "# runs ghcr.io/osscontainertools/kaniko:v1.28.3 (polymagic's executor setting)"
EMPTY_LIST = re.compile(r"^no polymagic builds in namespace `[^`]+`: finished builds are deleted")
BUILD_TIMEOUT = 180 * SECOND


@pytest.fixture
def lab(kernel_env: KernelEnv, tmp_path: Path) -> Iterator[LabServer]:
    with serve_notebook(NOTEBOOK, kernel_env, tmp_path) as server:
        yield server


def test_quick_start_runs_all_cells_in_jupyterlab(
    chromium: Path,
    lab: LabServer,
    browser_output: Path,
    tmp_path: Path,
    sim_node: SimulatedNode,
    namespace: str,
) -> None:
    from playwright.sync_api import expect

    specs = lab.api("GET", "/api/kernelspecs")
    argv = specs["kernelspecs"][KERNEL_NAME]["spec"]["argv"]
    assert argv[0] == str(VENV_PYTHON), f"the server's {KERNEL_NAME} kernelspec runs {argv}"
    # The build runs until released, printing a line every 50 ms: long enough to scroll.
    sim_node.set_scenario(namespace, Scenario.SUCCESS, hold_running=True, heartbeat_interval=0.05)

    # a fresh, empty --user-data-dir
    with browse(chromium, lab, browser_output, "quick-start", tmp_path / "chromium-profile") as run:
        page = run.page
        notebook = run.open_notebook(NOTEBOOK)
        page.screenshot(path=run.shot("1-opened"))

        run_all_cells(page)
        run.mark("run all")

        # While the build runs: the live widget's log box follows the newest line.
        progress = notebook.locator(".jp-OutputArea-output .widget-vbox").filter(
            has_text="polymagic build"
        )
        expect(progress.first).to_be_visible(timeout=60 * SECOND)
        where = log_box_position(progress.first.locator(".polymagic-log"))
        _wait_for(page, lambda: where()["overflow"] > 200, "the log box to overflow", 60)
        running = where()
        page.wait_for_timeout(600)
        later = where()
        assert running["below"] <= AT_BOTTOM, f"the running log box is not at its end: {running}"
        assert later["below"] <= AT_BOTTOM, f"the log box stopped following: {later}"
        assert later["lastLine"] != running["lastLine"], f"no new lines: {running} {later}"
        assert later["bottomLine"] == later["lastLine"], later
        assert later["lastLine"].startswith("(still running: held by the simulated node"), later
        progress.first.screenshot(path=run.shot("3-progress-running"))
        run.mark("log box follows while running")
        assert sim_node.release(namespace) == 1

        # The build ended: its static final state stands where the widget was.
        final = notebook.locator(".jp-OutputArea-output").filter(
            has=page.locator(".polymagic-final")
        )
        expect(final.first).to_contain_text("succeeded in", timeout=BUILD_TIMEOUT)
        expect(progress).to_have_count(0)
        expect(notebook.get_by_text(IMAGE).first).to_be_visible(timeout=30 * SECOND)
        run.mark("build succeeded")
        _wait_all_executed(page, notebook, 60 * SECOND)
        wait_kernel_idle(page, 30 * SECOND)
        run.mark("all cells executed")

        ended = log_box_position(final.first.locator("div[style*='column-reverse']").first)()
        assert ended["overflow"] > 200, f"the ended build's log box does not overflow: {ended}"
        assert ended["below"] <= AT_BOTTOM, f"the ended build's log box is not at its end: {ended}"
        assert ended["bottomLine"] == ended["lastLine"], ended
        shown = final.first.inner_text()
        assert IMAGE.search(shown), f"the final state does not show the image: {shown!r}"
        assert re.search(r"succeeded in \d+\.\d s", shown), shown
        dockerfile = notebook.locator(".jp-OutputArea-output").filter(has_text=DOCKERFILE_FROM)
        expect(dockerfile.first).to_be_visible()
        component = notebook.locator(".jp-OutputArea-output").filter(has_text=RUNS)
        expect(component.first).to_be_visible()
        listed = notebook.locator(".jp-OutputArea-output").filter(
            has_text=re.compile(r"build-\w+\s*Succeeded")  # the kept build, listed
        )
        expect(listed.first).to_be_visible()
        expect(notebook.get_by_text(EMPTY_LIST).first).to_be_visible()
        page_text = notebook.inner_text()
        for bad in ("Error displaying widget", "Loading widget...", "Traceback (most recent"):
            assert bad not in page_text, f"the notebook page shows {bad!r}"

        # JupyterLab scrolls inside its panel, so a full-page shot is the viewport: shoot the
        # outputs themselves too.
        dockerfile.first.screenshot(path=run.shot("2-dockerfile"))
        # the end of the component's YAML: the container's image line and the note under it
        note = component.first.get_by_text(re.compile(r"^the build pod runs ghcr\.io/"))
        expect(note).to_be_visible()
        note.scroll_into_view_if_needed()
        page.screenshot(path=run.shot("4-component"))
        final.first.screenshot(path=run.shot("5-ended"))
        notebook.get_by_text(EMPTY_LIST).first.scroll_into_view_if_needed()
        page.screenshot(path=run.shot("6-list"))

        saved = _save_and_read(page, lab.root_dir / NOTEBOOK, 30.0)
        run.mark("saved")
        problems = check_notebook(saved, EXPECTATIONS[NOTEBOOK])
        assert not problems, (
            "the notebook JupyterLab saved falls short:\n- "
            + "\n- ".join(problems)
            + f"\n\n{summarize(saved)}"
        )


def _wait_for(page: Page, condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        page.wait_for_timeout(200)


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
