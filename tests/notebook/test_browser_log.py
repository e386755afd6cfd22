"""The progress widget's log box in a real JupyterLab (Debian's Chromium, Playwright): it follows
the newest line while lines arrive, stops following when the user scrolls up, follows again once
they are back at the bottom, and the ended build's static copy opens on its last line.

No cluster: a kernel thread feeds the real widget log events, a few dozen a second, so the box
overflows within seconds and keeps growing while the test scrolls. (The quick-start browser test
checks the same box at the end of a real build on the test cluster.) Screenshots go to
``test-output/browser/log-box-*.png``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest

from tests.notebook.browser import AT_BOTTOM, SECOND, BrowserRun, browse, log_box_position
from tests.notebook.kernel_env import KERNEL_NAME, KernelEnv, LabServer

if TYPE_CHECKING:
    pass

pytestmark = [pytest.mark.slow]

NOTEBOOK = "log-box.ipynb"
FEED = """\
import threading, time
from dataclasses import replace
from polymagic.notebook.progress_widget import BuildProgress
from polymagic.outcome.kaniko_log import EventKind, ProgressEvent
from polymagic.outcome.result import BuildResult

progress = BuildProgress("log-box", 0)
display(progress)
stop = threading.Event()
def feed():
    number = 0
    while not stop.is_set():
        progress.on_event(ProgressEvent(EventKind.LOG, f"log line {number:05d}"))
        number += 1
        time.sleep(0.03)
threading.Thread(target=feed, daemon=True).start()"""
FINISH = """\
stop.set()
time.sleep(0.2)
progress.on_event(ProgressEvent(EventKind.LOG, "the last log line"))
progress.finish_success(BuildResult(
    name="log-box", namespace="ml", image="registry.example.com/org/app@sha256:" + "a" * 64,
    digest="sha256:" + "a" * 64, tags=(), duration=0.3, pod_name="log-box", spec_hash="f" * 64,
    executor_image="ghcr.io/osscontainertools/kaniko:v1.28.3", log_tail=()))
display(progress.final_view())"""


@pytest.fixture
def lab(offline_kernel_env: KernelEnv, tmp_path: Path) -> Iterator[LabServer]:
    root = tmp_path / "lab-root"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(FEED), nbformat.v4.new_code_cell(FINISH)]
    nb.metadata["kernelspec"] = {
        "name": KERNEL_NAME,
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root / NOTEBOOK)
    server = LabServer(root, offline_kernel_env, tmp_path / "jupyter-lab.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_the_log_box_follows_the_newest_line_until_the_user_scrolls_up(
    chromium: Path, lab: LabServer, browser_output: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    with browse(chromium, lab, browser_output, "log-box", tmp_path / "chromium-profile") as run:
        page = run.page
        notebook = run.open_notebook(NOTEBOOK)
        cells = notebook.locator(".jp-CodeCell")
        cells.first.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        box = cells.first.locator(".polymagic-log")
        expect(box).to_be_visible(timeout=60 * SECOND)
        where = log_box_position(box)
        _wait(run, lambda: where()["overflow"] > 200, "the log box to overflow")
        run.mark("log box overflows")

        # Following: the box's bottom edge shows the newest line, while lines keep arriving.
        first = where()
        assert first["below"] <= AT_BOTTOM, f"the log box is not at its last line: {first}"
        page.wait_for_timeout(700)
        later = where()
        assert later["lastLine"] != first["lastLine"], f"no new lines arrived: {first} {later}"
        assert later["below"] <= AT_BOTTOM, f"the log box stopped following: {later}"
        assert later["bottomLine"] == later["lastLine"], later
        box.screenshot(path=run.shot("1-following"))

        # The user scrolls up: the box stays where they put it while lines go on arriving.
        box.hover()
        page.mouse.wheel(0, -150)
        page.wait_for_timeout(300)
        up = where()
        page.wait_for_timeout(1000)
        still = where()
        print(f"scrolled up: {up} -> {still}")
        # and the lines the user reads stay in place (the browser anchors them)
        assert _number(still["bottomLine"]) - _number(up["bottomLine"]) <= 2, (up, still)
        assert still["lastLine"] != up["lastLine"], "no new lines arrived while scrolled up"
        assert up["below"] >= 100, f"the wheel did not scroll the box up: {up}"
        assert still["below"] >= 100, f"the box went back to following: {still}"
        run.mark("scrolled up, not following")
        box.screenshot(path=run.shot("2-scrolled-up"))

        # Back at the bottom: it follows again.
        for _ in range(20):  # as a user does: wheel down until the end
            page.mouse.wheel(0, 400)
            page.wait_for_timeout(100)
        page.wait_for_timeout(300)
        back = where()
        page.wait_for_timeout(700)
        again = where()
        assert back["below"] <= AT_BOTTOM, f"the wheel did not reach the bottom: {back}"
        assert again["lastLine"] != back["lastLine"], "no new lines arrived at the bottom"
        assert again["below"] <= AT_BOTTOM, f"back at the bottom, the box does not follow: {again}"
        run.mark("back at the bottom, following")

        # The ended build's static copy: its log box opens on the last line, by CSS alone.
        page.keyboard.press("Escape")
        cells.nth(1).locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        final = cells.nth(1).locator(".jp-OutputArea-output").filter(has_text="succeeded in")
        expect(final).to_be_visible(timeout=30 * SECOND)
        static = final.locator("div[style*='column-reverse']").first
        ended = log_box_position(static)()
        assert ended["overflow"] > 200, f"the static log box does not overflow: {ended}"
        assert ended["below"] <= AT_BOTTOM, f"the static log box is not at its end: {ended}"
        assert ended["bottomLine"] == ended["lastLine"] == "the last log line", ended
        final.screenshot(path=run.shot("3-ended-static"))
        run.mark("static copy at its last line")
        page_text = notebook.inner_text()
        for bad in ("Error displaying widget", "Traceback (most recent"):
            assert bad not in page_text, f"the notebook page shows {bad!r}"


def _number(line: str) -> int:
    """The number of a ``log line 00042``."""
    return int(line.rsplit(" ", 1)[-1])


def _wait(run: BrowserRun, condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        run.page.wait_for_timeout(200)
