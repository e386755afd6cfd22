"""The build form in a real JupyterLab, driven in Debian's Chromium with Playwright.

``jupyter lab`` serves a scratch copy of ``notebooks/build-form.ipynb``; no cluster is needed
(``offline_kernel_env``): the test runs only the cells that show the form (``%load_ext`` and
``%polybuild form``), never the notebook's build. In the page it types into the Memory limit
field with the keyboard, as a user would, and reads back what the page shows: the YAML pane,
the Dockerfile preview, the message under the field and the Build button. Screenshots of the
form go to ``test-output/browser/build-form-*.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.notebook.browser import SECOND, BrowserRun, browse
from tests.notebook.kernel_env import KernelEnv, LabServer, serve_notebook

if TYPE_CHECKING:
    from playwright.sync_api import Locator

pytestmark = [pytest.mark.slow]

NOTEBOOK = "build-form.ipynb"
FORM_CELLS = ("%load_ext polymagic", "form = %polybuild form")
DOCKERFILE_FROM = "FROM tensorflow/tensorflow:2.0.1-py3"  # the form starts on the quick start
LABELS = ("Base image", "Run", "Destination", "Memory limit", "CPU limit", "Namespace")
SECTIONS = ("Image", "User and workdir", "Push", "Executor options", "Resources")
LIMITS = ("runPatch", "container", "resources", "limits")
BAD_AMOUNT = "`lots` is not a Kubernetes quantity"


@pytest.fixture
def lab(offline_kernel_env: KernelEnv, tmp_path: Path) -> Iterator[LabServer]:
    with serve_notebook(NOTEBOOK, offline_kernel_env, tmp_path) as server:
        yield server


def test_build_form_memory_limit_typed_in_jupyterlab(
    chromium: Path, lab: LabServer, browser_output: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    profile = tmp_path / "chromium-profile"
    # Tall enough that the whole form fits in JupyterLab's panel for its screenshots.
    with browse(chromium, lab, browser_output, "build-form", profile, (1400, 2000)) as run:
        page = run.page
        notebook = run.open_notebook(NOTEBOOK)
        form = _show_form(run, notebook)
        run.mark("form shown")

        for title in SECTIONS:
            expect(
                form.locator(".widget-html b", has_text=re.compile(f"^{title}$"))
            ).to_be_visible()
        for label in LABELS:
            expect(form.get_by_label(label, exact=True)).to_be_visible()
        memory = form.get_by_label("Memory limit", exact=True)
        yaml_pane = _views(form).locator("textarea")
        preview = _views(form).locator("pre")
        build = form.get_by_role("button", name=re.compile(r"^\W*Build$"))  # after its icon
        message = _field_box(form, "Memory limit").locator(".widget-html")
        expect(preview).to_contain_text(DOCKERFILE_FROM)
        expect(build).to_be_enabled()
        assert _limits(yaml_pane) == {}, "the quick start has no limits: the check below would pass"
        form.screenshot(path=run.shot("1-form"))
        _assert_layout(form)

        memory.click()
        page.keyboard.type("2Gi")
        expect(yaml_pane).to_have_value(re.compile(r"^ +memory: 2Gi$", re.MULTILINE))
        assert _limits(yaml_pane) == {"memory": "2Gi"}
        expect(preview).to_contain_text(DOCKERFILE_FROM)
        expect(message).to_be_hidden()  # no blank row under a field without a message
        expect(build).to_be_enabled()
        run.mark("2Gi in the YAML")
        form.screenshot(path=run.shot("2-memory-2Gi"))

        page.keyboard.press("Control+a")
        page.keyboard.type("lots")
        expect(message).to_contain_text(BAD_AMOUNT)
        expect(build).to_be_disabled()
        _assert_under(message, memory)
        run.mark("lots refused")
        form.screenshot(path=run.shot("3-memory-lots"))
        _assert_layout(form)

        page_text = notebook.inner_text()
        for bad in ("Error displaying widget", "Traceback (most recent"):
            assert bad not in page_text, f"the notebook page shows {bad!r}"


def _show_form(run: BrowserRun, notebook: Locator) -> Locator:
    """Run the notebook's first two code cells with Shift+Enter, as a user would; the form."""
    from playwright.sync_api import expect

    cells = notebook.locator(".jp-CodeCell")
    for index, source in enumerate(FORM_CELLS):
        expect(cells.nth(index).locator(".jp-InputArea-editor")).to_contain_text(source)
    cells.first.locator(".jp-InputArea-editor").click()
    for _ in FORM_CELLS:
        run.page.keyboard.press("Shift+Enter")
    for index in range(len(FORM_CELLS)):
        expect(cells.nth(index).locator(".jp-InputPrompt")).to_have_text(
            re.compile(r"\[\d+\]:"), timeout=60 * SECOND
        )
    # The outermost widget box of the form cell's output.
    form = cells.nth(1).locator(".jp-OutputArea-output .widget-vbox").first
    expect(form).to_be_visible(timeout=30 * SECOND)
    return form


def _views(form: Locator) -> Locator:
    """The right-hand column: the Dockerfile preview and the YAML pane (the innermost box)."""
    return form.locator(".widget-vbox").filter(has_text="Operation YAML").last


def _field_box(form: Locator, label: str) -> Locator:
    """The box of a field and the message under it (the innermost box holding the field)."""
    field = form.page.get_by_label(label, exact=True)  # `has=` is relative to each box
    return form.locator(".widget-vbox").filter(has=field).last


def _limits(yaml_pane: Locator) -> Any:
    """``runPatch.container.resources.limits`` of the YAML the pane shows (``{}`` if absent)."""
    node: Any = yaml.safe_load(yaml_pane.input_value())
    for key in LIMITS:
        if not isinstance(node, dict) or key not in node:
            return {}
        node = node[key]
    return node


def _assert_under(message: Locator, field: Locator) -> None:
    """``message`` is drawn below ``field``, in the same column, not over it."""
    below, above = message.bounding_box(), field.bounding_box()
    assert below is not None, "the message under the field is not drawn"
    assert above is not None, "the field is not drawn"
    assert below["y"] >= above["y"] + above["height"] - 1, (
        f"the message {below} is not under the field {above}"
    )
    overlap = min(below["x"] + below["width"], above["x"] + above["width"]) - max(
        below["x"], above["x"]
    )
    assert overlap > 0, f"the message {below} is not in the field's column {above}"
    text = message.locator(".widget-html-content").bounding_box()
    assert text is not None, "the message has no text box"
    assert abs(text["x"] - above["x"]) <= 2, (
        f"the message's text starts at x={text['x']:.0f}, the input at x={above['x']:.0f}"
    )


_LAYOUT_JS = r"""(root) => {
    const rect = (e) => { const b = e.getBoundingClientRect(); return [b.left, b.right]; };
    const holds = (box) => [...box.querySelectorAll("label")].map((l) => l.textContent.trim())
        .filter((t) => t && t !== "\u200b").slice(0, 3).join(", ") || box.innerText.slice(0, 40);
    const overflowing = [root, ...root.querySelectorAll(".widget-box")]
        .filter((box) => box.scrollWidth > box.clientWidth)
        .map((box) => [holds(box), box.scrollWidth - box.clientWidth]);
    const column = root.querySelector(".widget-hbox > .widget-vbox");
    const controls = [...column.querySelectorAll("input, textarea")].map((c) => [
        c.closest(".widget-inline-hbox").innerText.trim().split("\n")[0] || c.type,
        c.type === "checkbox",
        ...rect(c),
    ]);
    return { overflowing, controls, column: rect(column) };
}"""


def _assert_layout(form: Locator) -> None:
    problems = _layout_problems(form)
    assert not problems, "the form's layout is off:\n- " + "\n- ".join(problems)


def _layout_problems(form: Locator) -> list[str]:
    """What a reader would see wrong in the form's layout: a box wider than its room (its
    content cut, or a scroll bar under it), or controls of the fields' column out of line
    (their left edges, and the right edges of the text boxes, all line up)."""
    found = form.evaluate(_LAYOUT_JS)
    problems = [
        f"the box holding {holds!r} is {extra}px wider than its room"
        for holds, extra in found["overflowing"]
    ]
    controls = found["controls"]
    lefts = {label: round(left) for label, _, left, _ in controls}
    rights = {label: round(right) for label, check, _, right in controls if not check}
    for edge, where in (("left", lefts), ("right", rights)):
        if len(set(where.values())) > 1:
            problems.append(f"the fields' {edge} edges do not line up: {where}")
    return problems
