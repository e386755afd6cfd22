"""The three notebooks, executed by nbclient against the node running the real executor, then
what a colleague sees when an executed notebook is shared: nbconvert's HTML opened in Chromium,
with no kernel.

The notebooks are run unchanged. Their base images (``tensorflow/tensorflow:2.0.1-py3``,
``python:3.11-slim``) are Docker Hub names, and Docker Hub cannot be reached here: the test
registry holds the busybox base image under those names, and the node gives the executor
``KANIKO_REGISTRY_MIRROR`` pointing at it (Kaniko's own pull-through-mirror setting, where a real
cluster would configure a mirror). Their destinations go to the same registry through the
connection ``docker-connection`` (``<registry>/org``).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

from tests.cluster.runc_runtime import RuncEngine
from tests.notebook.browser import CHROMIUM_FLAGS, SECOND
from tests.notebook.kernel_env import (
    CHROMIUM,
    NOTEBOOKS,
    Expect,
    KernelEnv,
    check_notebook,
    prepare_kernel_env,
    summarize,
    tail,
)
from tests.notebook.test_notebooks_execute import EXPECTATIONS, execute
from tests.real_executor.helpers import LOG_DIR
from tests.real_executor.registry_view import RegistryView
from tests.registry.server import RegistryServer

pytestmark = [pytest.mark.cluster, pytest.mark.real_executor, pytest.mark.slow]

NOTEBOOK_FILES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
DOCKER_HUB_BASES = [
    ("tensorflow/tensorflow", "2.0.1-py3"),  # quick-start, advanced
    ("library/python", "3.11-slim"),  # build-form
    ("library/python", "3.12-slim"),  # sklearn-image
    # freeze: the kernel's own Python (the project venv's, as this process runs)
    ("library/python", f"{sys.version_info.major}.{sys.version_info.minor}-slim"),
]
EXAMPLE_REGISTRY = "registry.example.com/org"
# What the shared HTML must show, per notebook: the Dockerfile, the component diff, the result.
DIFF_HEADER = "+++ compiled (runPatch and params applied)"
HTML_SHOWS = {
    "quick-start.ipynb": ("FROM tensorflow/tensorflow:2.0.1-py3", DIFF_HEADER),
    "advanced.ipynb": (DIFF_HEADER, "+  value: polyaxon/polyaxon-quick-start:v2"),
    "build-form.ipynb": ("FROM python:3.11-slim", "RUN pip install --no-cache-dir scikit-learn"),
    "freeze.ipynb": ("FROM python:", "COPY requirements.txt /code", "pinned"),
    "sklearn-image.ipynb": ("FROM python:3.12-slim", "COPY train.py /code"),
}


@pytest.fixture
def mirrored(plain_registry: RegistryServer, base_layout: Path) -> RegistryServer:
    from tests.real_executor.base_image import push_base

    for repository, tag in dict.fromkeys(DOCKER_HUB_BASES):
        push_base(base_layout, plain_registry, repository, tag)
    return plain_registry


@pytest.fixture
def real_kernel_env(
    admin_kubeconfig: Path,
    real_namespace: str,
    runc_engine: RuncEngine,
    mirrored: RegistryServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> KernelEnv:
    env = prepare_kernel_env(admin_kubeconfig, real_namespace, tmp_path / "kernel-env")
    catalog = yaml.safe_load(env.connections_file.read_text())
    for connection in catalog:
        if connection["name"] == "docker-connection":
            connection["schema"] = {"url": f"{mirrored.host}/org", "insecure": True}
    env.connections_file.write_text(yaml.safe_dump(catalog, sort_keys=False))
    runc_engine.set_node_env(real_namespace, {"KANIKO_REGISTRY_MIRROR": mirrored.host})
    for name in (
        "JUPYTER_PATH",
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTER_RUNTIME_DIR",
        "JUPYTER_PLATFORM_DIRS",
        "IPYTHONDIR",
    ):
        monkeypatch.setenv(name, env.extra[name])
    return env


def _expectations(name: str, registry: str) -> Expect:
    """The simulated run's expectations, with the example registry swapped for the real one."""

    def swap(value: Any) -> Any:
        if isinstance(value, str):
            value = value.replace(EXAMPLE_REGISTRY, f"{registry}/org")
            return value.replace(re.escape(EXAMPLE_REGISTRY), re.escape(f"{registry}/org"))
        if isinstance(value, tuple):
            return tuple(swap(v) for v in value)
        if isinstance(value, dict):
            return {swap(k): swap(v) for k, v in value.items()}
        return value

    expect = EXPECTATIONS[name]
    return Expect(**{f.name: swap(getattr(expect, f.name)) for f in dataclasses.fields(expect)})


def _records(nb: Any) -> list[dict[str, Any]]:
    return [
        output["data"]["application/vnd.polymagic.build+json"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "application/vnd.polymagic.build+json" in output.get("data", {})
    ]


@pytest.mark.parametrize("name", NOTEBOOK_FILES)
def test_notebook_builds_for_real_and_its_html_shows_the_result(
    name: str,
    real_kernel_env: KernelEnv,
    mirrored: RegistryServer,
    tmp_path: Path,
) -> None:
    notebooks = tmp_path / "notebooks"
    # The notebook with what it reads beside it (advanced.ipynb builds quick-start.yaml).
    shutil.copytree(NOTEBOOKS, notebooks, ignore=shutil.ignore_patterns("*.ipynb", ".*"))
    (notebooks / name).write_bytes((NOTEBOOKS / name).read_bytes())
    kernel_log = tmp_path / "kernel.log"
    nb, seconds = execute(notebooks / name, real_kernel_env, kernel_log)
    executed = LOG_DIR.parent / "notebooks" / f"executed-{name}"
    executed.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, executed)
    problems = check_notebook(nb, _expectations(name, mirrored.host))
    assert not problems, (
        f"{name} executed in {seconds:.1f}s but:\n- "
        + "\n- ".join(problems)
        + f"\n\n--- outputs ---\n{summarize(nb)}\n\n--- kernel log ---\n{tail(kernel_log)}"
    )
    # Each image the notebook reports is in the registry (and under its tag, when it has one).
    # An untagged one may be an earlier build of the same spec that polymagic reused.
    view = RegistryView(mirrored)
    images = [str(record["image"]) for record in _records(nb)]
    assert images
    for image in images:
        reference, _, digest = image.partition("@")
        path = reference.removeprefix(f"{mirrored.host}/")
        repository, _, tag = path.rpartition(":") if ":" in path else (path, "", "")
        assert view.digest(repository, digest) == digest, image
        if tag:
            assert view.digest(repository, tag) == digest, image

    html = _to_html(nb, tmp_path / f"{name}.html")
    text = _visible_text(html, executed.with_suffix(".png"))
    for needle in (*HTML_SHOWS[name], *images):
        assert needle in text, f"the shared HTML of {name} does not show {needle!r}:\n{text}"
    # each build's ending, where its progress widget was (no widget state is needed for it)
    endings = re.findall(r"succeeded(?: in \d+\.\d s| in \d\d+:\d\d|: reused)", text)
    assert len(endings) >= len(images), f"the shared HTML of {name} shows {endings}:\n{text}"


def _to_html(nb: Any, path: Path) -> Path:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    path.write_text(body, encoding="utf-8")
    return path


def _visible_text(html: Path, screenshot: Path) -> str:
    """What Chromium renders of ``html`` (no kernel, no network), and a full-page screenshot."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.goto(html.as_uri(), wait_until="load", timeout=30 * SECOND)
            page.screenshot(path=str(screenshot), full_page=True)
            text: str = page.inner_text("body")
        finally:
            browser.close()
    return text
