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
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest

from tests.notebook.kernel_env import (
    KERNEL_DISPLAY_NAME,
    KERNEL_NAME,
    NOTEBOOKS,
    VENV_PYTHON,
    KernelEnv,
    LabServer,
    check_notebook,
    summarize,
)
from tests.notebook.test_notebooks_execute import EXPECTATIONS

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

NOTEBOOK = "quick-start.ipynb"
IMAGE = re.compile(r"registry\.example\.com/org/polyaxon/polyaxon-quick-start@sha256:[0-9a-f]{64}")
DOCKERFILE_FROM = "FROM tensorflow/tensorflow:2.0.1-py3"
# Debian's Chromium as the machine notes say: without the background-networking flags it keeps
# trying (and failing) to reach Google's hosts. Playwright adds --headless and a fresh profile.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECOND = 1000  # Playwright counts in milliseconds
BUILD_TIMEOUT = 180 * SECOND


@pytest.fixture
def lab(kernel_env: KernelEnv, tmp_path: Path) -> Iterator[LabServer]:
    root = tmp_path / "lab-root"
    root.mkdir()
    shutil.copy(NOTEBOOKS / NOTEBOOK, root / NOTEBOOK)
    server = LabServer(root, kernel_env, tmp_path / "jupyter-lab.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_quick_start_runs_all_cells_in_jupyterlab(
    chromium: Path, lab: LabServer, browser_output: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    specs = lab.api("GET", "/api/kernelspecs")
    argv = specs["kernelspecs"][KERNEL_NAME]["spec"]["argv"]
    assert argv[0] == str(VENV_PYTHON), f"the server's {KERNEL_NAME} kernelspec runs {argv}"
    for old in browser_output.glob("quick-start-*.png"):
        old.unlink()

    console: list[str] = []
    started = time.monotonic()
    timings: dict[str, float] = {}

    def mark(step: str) -> None:
        timings[step] = round(time.monotonic() - started, 1)

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh, empty --user-data-dir
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1200},
        )
        page = context.pages[0] if context.pages else context.new_page()
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        try:
            page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}")
            notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
            expect(notebook.locator(".jp-Cell").first).to_be_visible(timeout=60 * SECOND)
            _wait_kernel_idle(page, 60 * SECOND)
            mark("notebook open, kernel idle")
            lab.remember_kernels()
            page.screenshot(path=browser_output / "quick-start-1-opened.png")

            _run_all_cells(page)
            mark("run all")

            # The progress widget's final state: `succeeded` and the pushed image.
            progress = notebook.locator(".jp-OutputArea-output .widget-vbox").filter(
                has_text="polymagic build"
            )
            expect(progress.first).to_be_visible(timeout=60 * SECOND)
            expect(progress.first).to_contain_text("succeeded", timeout=BUILD_TIMEOUT)
            expect(notebook.get_by_text(IMAGE).first).to_be_visible(timeout=30 * SECOND)
            mark("build succeeded")
            _wait_all_executed(page, notebook, 60 * SECOND)
            _wait_kernel_idle(page, 30 * SECOND)
            mark("all cells executed")

            shown = _widget_text(progress.first)
            assert IMAGE.search(shown), f"the progress widget does not show the image: {shown!r}"
            dockerfile = notebook.locator(".jp-OutputArea-output").filter(has_text=DOCKERFILE_FROM)
            expect(dockerfile.first).to_be_visible()
            page_text = notebook.inner_text()
            for bad in ("Error displaying widget", "Loading widget...", "Traceback (most recent"):
                assert bad not in page_text, f"the notebook page shows {bad!r}"

            # JupyterLab scrolls inside its panel, so a full-page shot is the viewport: shoot the
            # outputs themselves too.
            dockerfile.first.screenshot(path=browser_output / "quick-start-2-dockerfile.png")
            progress.first.screenshot(path=browser_output / "quick-start-3-progress.png")
            progress.first.scroll_into_view_if_needed()
            page.screenshot(path=browser_output / "quick-start-4-page.png")

            saved = _save_and_read(page, lab.root_dir / NOTEBOOK, 30.0)
            mark("saved")
            problems = check_notebook(saved, EXPECTATIONS[NOTEBOOK])
            assert not problems, (
                "the notebook JupyterLab saved falls short:\n- "
                + "\n- ".join(problems)
                + f"\n\n{summarize(saved)}"
            )
        except Exception as exc:
            with_screenshot = _failure_screenshot(page, browser_output)
            raise AssertionError(
                f"{type(exc).__name__}: {exc}\n\nsteps done (seconds): {timings}\n{with_screenshot}"
                f"\n--- browser console (last 40) ---\n"
                + "\n".join(console[-40:])
                + f"\n\n{lab.logs()}"
            ) from exc
        finally:
            context.close()
    print(f"browser test timings (s): {timings}")


_KERNEL_READY_JS = """(name) => {
    const panel = document.querySelector(".jp-NotebookPanel:not(.lm-mod-hidden)");
    const status = document.querySelector("#jp-main-statusbar");
    if (!panel || !status) return false;
    const indicator = panel.querySelector(".jp-Notebook-ExecutionIndicator");
    const toolbar = panel.querySelector(".jp-NotebookPanel-toolbar");
    return !!indicator && indicator.dataset.status === "idle"
        && !!toolbar && toolbar.innerText.includes(name)
        && status.innerText.includes(name + " | Idle");
}"""


def _wait_kernel_idle(page: Page, timeout: int) -> None:
    """The notebook has *our* kernel, connected and idle. (The toolbar's indicator alone says
    ``idle`` already while the panel has "No Kernel | Initializing".)"""
    try:
        page.wait_for_function(_KERNEL_READY_JS, arg=KERNEL_DISPLAY_NAME, timeout=timeout)
    except Exception as exc:
        status = page.locator("#jp-main-statusbar").inner_text(timeout=2 * SECOND)
        raise AssertionError(
            f"the notebook's kernel {KERNEL_DISPLAY_NAME!r} is not idle after "
            f"{timeout // SECOND}s; status bar: {status!r}"
        ) from exc


def _run_all_cells(page: Page) -> None:
    """Run -> Run All Cells, from the menu bar."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    item = page.locator(".lm-Menu:visible .lm-Menu-item", has_text="Run All Cells").first
    item.click()
    # Had the session lost its kernel, JupyterLab would ask for one instead of running.
    dialog = page.locator(".jp-Dialog")
    page.wait_for_timeout(500)
    if dialog.count():
        raise AssertionError(f"JupyterLab opened a dialog on Run All: {dialog.inner_text()!r}")


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


def _failure_screenshot(page: Page, folder: Path) -> str:
    target = folder / "quick-start-failure.png"
    try:
        page.screenshot(path=target, full_page=True)
    except Exception as exc:  # the page may be gone; the message matters more
        return f"(no failure screenshot: {exc})\n"
    return f"failure screenshot: {target}\n"
