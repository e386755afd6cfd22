"""JupyterLab in Debian's Chromium with Playwright, shared by the browser tests.

:func:`browse` launches Chromium on a fresh profile and yields a :class:`BrowserRun` (the page,
the lab, the browser console, step timings, screenshot names); a failure inside it is raised
again with the steps done, a screenshot, the console and the server's log.
:meth:`BrowserRun.open_notebook` opens a notebook and waits for *our* kernel to be idle.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.notebook.kernel_env import KERNEL_DISPLAY_NAME, LabServer

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

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
VISIBLE_NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"


@dataclass
class BrowserRun:
    """One browser session on a lab: the page, and what a failure message reports."""

    page: Page
    lab: LabServer
    output: Path
    name: str  # screenshots are <output>/<name>-<step>.png
    console: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def mark(self, step: str) -> None:
        self.timings[step] = round(time.monotonic() - self.started, 1)

    def shot(self, step: str) -> Path:
        """The path of this run's screenshot named ``step``."""
        return self.output / f"{self.name}-{step}.png"

    def open_notebook(self, notebook: str) -> Locator:
        """Open ``notebook`` from the lab's root and wait until its kernel is ours and idle;
        the notebook panel."""
        from playwright.sync_api import expect

        self.page.goto(f"{self.lab.url}/lab/tree/{notebook}?token={self.lab.token}")
        panel = self.page.locator(VISIBLE_NOTEBOOK)
        expect(panel.locator(".jp-Cell").first).to_be_visible(timeout=60 * SECOND)
        wait_kernel_idle(self.page, 60 * SECOND)
        self.mark("notebook open, kernel idle")
        self.lab.remember_kernels()
        return panel


@contextmanager
def browse(
    chromium: Path,
    lab: LabServer,
    output: Path,
    name: str,
    profile: Path,
    viewport: tuple[int, int] = (1400, 1200),
) -> Iterator[BrowserRun]:
    """Chromium on a fresh profile (``profile``, an empty folder to be) with one page; the
    screenshots ``<output>/<name>-*.png`` of an earlier run are removed first."""
    from playwright.sync_api import sync_playwright

    for old in output.glob(f"{name}-*.png"):
        old.unlink()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": viewport[0], "height": viewport[1]},
        )
        page = context.pages[0] if context.pages else context.new_page()
        run = BrowserRun(page, lab, output, name)
        page.on("console", lambda m: run.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: run.console.append(f"pageerror: {e}"))
        try:
            yield run
        except Exception as exc:
            with_screenshot = _failure_screenshot(page, run.shot("failure"))
            raise AssertionError(
                f"{type(exc).__name__}: {exc}\n\nsteps done (seconds): {run.timings}\n"
                f"{with_screenshot}--- browser console (last 40) ---\n"
                + "\n".join(run.console[-40:])
                + f"\n\n{lab.logs()}"
            ) from exc
        finally:
            context.close()
    print(f"browser test timings (s): {run.timings}")


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


def wait_kernel_idle(page: Page, timeout: int) -> None:
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


def run_all_cells(page: Page) -> None:
    """Run -> Run All Cells, from the menu bar."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    item = page.locator(".lm-Menu:visible .lm-Menu-item", has_text="Run All Cells").first
    item.click()
    # Had the session lost its kernel, JupyterLab would ask for one instead of running.
    dialog = page.locator(".jp-Dialog")
    page.wait_for_timeout(500)
    if dialog.count():
        raise AssertionError(f"JupyterLab opened a dialog on Run All: {dialog.inner_text()!r}")


def _failure_screenshot(page: Page, target: Path) -> str:
    try:
        page.screenshot(path=target, full_page=True)
    except Exception as exc:  # the page may be gone; the message matters more
        return f"(no failure screenshot: {exc})\n"
    return f"failure screenshot: {target}\n"


# Where a scrolling box stands: how far (px) its content's end is below the box's bottom edge,
# and the log line drawn at the bottom edge (read from the text under that point, so a line
# wrapped over two rows counts as one).
_WHERE_JS = r"""(box) => {
    // Read in one go: the widget replaces the lines' element at each update.
    box.scrollIntoView({block: "nearest"});  // its ancestors scroll; the box itself does not
    const content = box.querySelector("pre");
    const b = box.getBoundingClientRect(), c = content.getBoundingClientRect();
    const lines = content.innerText.split("\n").filter((l) => l);
    let bottomLine = "";
    const at = document.caretRangeFromPoint(c.left + 8, Math.min(b.bottom, c.bottom) - 6);
    if (at && content.contains(at.startContainer)) {
        const text = at.startContainer.textContent, offset = at.startOffset;
        const end = text.indexOf("\n", offset);
        bottomLine = text.slice(text.lastIndexOf("\n", offset - 1) + 1, end < 0 ? undefined : end);
    }
    return {
        below: Math.round(c.bottom - b.bottom),
        overflow: box.scrollHeight - box.clientHeight,
        lines: lines.length,
        bottomLine: bottomLine.trim(),
        lastLine: (lines[lines.length - 1] || "").trim(),
    };
}"""
AT_BOTTOM = 8
"""Pixels a log box's content may end below its bottom edge and still be at its bottom (the
margin and padding of its lines)."""


def log_box_position(box: Locator) -> Callable[[], dict[str, Any]]:
    """A reading of a log box's scroll position, taken at each call (see ``_WHERE_JS``):
    ``below`` (px of content under the bottom edge), ``overflow``, ``lines``, ``bottomLine``
    (the line at the bottom edge) and ``lastLine``."""

    def read() -> dict[str, Any]:
        found: dict[str, Any] = box.evaluate(_WHERE_JS)
        return found

    return read
