"""Every notebook in ``notebooks/`` runs top to bottom in a real kernel against the test cluster,
and shows what it is meant to; the committed notebooks carry clean outputs (or none).

A kernel runs the project venv's Python (a kernelspec written per test) with ``KUBECONFIG``,
``POLYMAGIC_CONNECTIONS`` and ``POLYMAGIC_NAMESPACE`` pointing at a fresh namespace that holds the
registry secret; the simulated node plays the Kaniko pods (see ``conftest.py``).
"""

from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from tests.notebook.kernel_env import (
    CELL_TIMEOUT,
    KERNEL_NAME,
    NOTEBOOKS,
    REPO,
    VENV_PYTHON,
    Expect,
    KernelEnv,
    check_notebook,
    code_cells,
    error_outputs,
    summarize,
    tail,
    widget_state,
)

NOTEBOOK_FILES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))

QUICK_START_IMAGE = "registry.example.com/org/polyaxon/polyaxon-quick-start@sha256:"
SUCCEEDED = "<strong>succeeded</strong>"
"""In the static final state of a build that succeeded (``in 0.3 s``, or ``: reused — ...``)."""

# What each notebook must show once executed (cells named by how their source starts). Every
# notebook is also checked for error outputs. A notebook without an entry here fails
# `test_every_notebook_has_expectations`: add what a reader should see.
EXPECTATIONS: dict[str, Expect] = {
    "quick-start.ipynb": Expect(
        text={
            "%%polybuild": ("FROM tensorflow/tensorflow:2.0.1-py3",),
            "%polybuild cancel": (
                "cancelled build `build-",
                "no polymagic builds in namespace `",
                "unless built with --keep",
            ),
        },
        ended={"%%polybuild": (SUCCEEDED, f"image <code>{QUICK_START_IMAGE}")},
        build_records={"%%polybuild": QUICK_START_IMAGE},
        patterns={
            "result.image": re.escape(QUICK_START_IMAGE) + "[0-9a-f]{64}",
            # the kept build, listed
            "%polybuild list": r"(?m)^\S+ +build-\S+ +Succeeded ",
        },
        record_image_in=("result.image",),
    ),
    "advanced.ipynb": Expect(
        text={
            "%polybuild build quick-start.yaml --dry-run --show component --out compiled": (
                "# compiled component",
                "value: polyaxon/polyaxon-quick-start:v2",
            ),
            'compiled.run_dict["container"]["args"]': (
                "'-d',\n 'registry.example.com/org/polyaxon/polyaxon-quick-start:v2',\n '',",
            ),
            'patched.run_dict["container"]["args"][:3]': (
                "['--build-arg=PYTHON_VERSION=3.11', '-c', '/plx-context/artifacts']",
            ),
            "print(result.image)": (
                "tags: ('registry.example.com/org/polyaxon/polyaxon-quick-start:v2'",
            ),
        },
        ended={"%polybuild build quick-start.yaml --out result": (SUCCEEDED,)},
        build_records={
            "%polybuild build quick-start.yaml --out result": "registry.example.com/org/polyaxon/polyaxon-quick-start:v2@sha256:"
        },
        absent={
            "%polybuild build quick-start.yaml --out result": (
                "FROM tensorflow/",
                "# compiled component",
                "kind: Pod",
            )
        },
        record_image_in=("print(result.image)",),
    ),
    "freeze.ipynb": Expect(
        ended={'with open("frozen.yaml", "w")': (SUCCEEDED,)},
        build_records={
            'with open("frozen.yaml", "w")': "registry.example.com/org/frozen/app@sha256:"
        },
        record_image_in=("print(result.image)",),
        text={
            "%polybuild freeze --imported": (
                "polymagic freeze: ",
                "FROM python:",
                "target=/tmp/requirements.txt pip install -r /tmp/requirements.txt",
                "COPY requirements.txt /code",
            ),
            'print(open("requirements.txt").read())': ("Jinja2==", "PyYAML==", "MarkupSafe=="),
        },
        absent={'print(open("requirements.txt").read())': ("ipykernel", "polymagic==", "pytest==")},
    ),
    "sklearn-image.ipynb": Expect(
        text={
            "%%polybuild --out trainer": (
                "FROM python:3.12-slim",
                "COPY train.py /code",
                "RUN pip install --no-cache-dir pandas==2.2.3 scikit-learn==1.6.1",
            ),
        },
        ended={"%%polybuild --out trainer": (SUCCEEDED,)},
        build_records={
            "%%polybuild --out trainer": "registry.example.com/org/team/sklearn-trainer:1@sha256:"
        },
        absent={"%%polybuild --out trainer": ("# compiled component", "kind: Pod")},
        record_image_in=("trainer.image",),
    ),
    "build-form.ipynb": Expect(
        text={
            'form.fields["image"].value = "python:3.11-slim"': (
                "image: python:3.11-slim",
                "value: team/sklearn:1",
                "      limits:\n        memory: 2Gi\n",
            ),
            "print(form.dockerfile_text)": (
                "FROM python:3.11-slim",
                "RUN pip install --no-cache-dir scikit-learn",
            ),
            'form.fields["image"].value = "python 3.11"': (
                "invalid docker image `python 3.11`",
                "Build enabled: False",
            ),
            "form.set_yaml(": ("'team/sklearn:2'",),
            "print(form.cell_text())": ("%%polybuild\nversion: 1",),
            'with open("sklearn.yaml", "w")': ("FROM python:3.11-slim",),
        },
        widgets=("form = %polybuild form",),
        ended={'with open("sklearn.yaml", "w")': (SUCCEEDED,)},
        build_records={
            'with open("sklearn.yaml", "w")': "registry.example.com/org/team/sklearn:2@sha256:"
        },
        # form.errors is empty once the fields are valid
        patterns={"print(form.dockerfile_text)": r"(?m)^\{\}$"},
        absent={'with open("sklearn.yaml", "w")': ("# compiled component", "kind: Pod")},
        record_image_in=("result.image",),
    ),
}


def test_every_notebook_has_expectations() -> None:
    missing = [name for name in NOTEBOOK_FILES if name not in EXPECTATIONS]
    assert not missing, (
        f"notebooks without expectations in {Path(__file__).name}'s EXPECTATIONS: {missing} "
        "(they are still executed and checked for errors)"
    )
    assert "quick-start.ipynb" in NOTEBOOK_FILES


def execute(path: Path, env: KernelEnv, kernel_log: Path) -> tuple[Any, float]:
    """Run the notebook at ``path`` in its folder; the executed notebook and the seconds taken."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        startup_timeout=90,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    )
    started = time.monotonic()
    with kernel_log.open("ab") as log:
        try:
            client.execute(env=env.environ, stdout=log, stderr=log)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
            raise AssertionError(
                f"{path.name} failed to execute: {type(exc).__name__}: {exc}\n\n"
                f"--- outputs so far ---\n{summarize(nb)}\n\n"
                f"--- kernel log ({kernel_log}) ---\n{tail(kernel_log)}\n\n{env.describe()}"
            ) from None
    return nb, time.monotonic() - started


@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOK_FILES)
def test_notebook_executes_and_shows_its_outputs(
    name: str, kernelspec_lookup: KernelEnv, notebook_copy: Path, tmp_path: Path
) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert spec.argv[0] == str(VENV_PYTHON), f"kernelspec {KERNEL_NAME} runs {spec.argv[0]}"

    kernel_log = tmp_path / "kernel.log"
    nb, seconds = execute(notebook_copy / name, kernelspec_lookup, kernel_log)
    executed = tmp_path / f"executed-{name}"
    nbformat.write(nb, executed)

    problems = check_notebook(nb, EXPECTATIONS.get(name, Expect()))
    records = [
        o["data"]["application/vnd.polymagic.build+json"]
        for c in code_cells(nb)
        for o in c.get("outputs", [])
        if "application/vnd.polymagic.build+json" in o.get("data", {})
    ]
    # The progress widget's final state (saved with the notebook) shows what was pushed.
    state = json.dumps(widget_state(nb))
    for record in records:
        image = record["image"] if isinstance(record, dict) else json.loads(record)["image"]
        if image not in state or '"succeeded"' not in state:
            problems.append(
                f"no widget's saved state shows `succeeded` and the pushed image {image}"
            )
    problems += _shared_html_problems(nb, records, tmp_path / f"executed-{name}.html")
    assert not problems, (
        f"{name} executed in {seconds:.1f}s but:\n- "
        + "\n- ".join(problems)
        + f"\n\n--- outputs ({executed}) ---\n{summarize(nb)}"
        + f"\n\n--- kernel log ({kernel_log}) ---\n{tail(kernel_log)}"
    )


def _shared_html_problems(nb: Any, records: list[Any], target: Path) -> list[str]:
    """What nbconvert's HTML of the executed notebook (what a colleague is sent, with no
    kernel) fails to show of each build's ending: the static final state with its image."""
    from nbconvert import HTMLExporter

    page, _ = HTMLExporter().from_notebook_node(nb)
    target.write_text(page, encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<(script|style).*?</\1>", "", page)))
    text = re.sub(r"\s+", " ", text)
    problems = []
    for record in records:
        image = record["image"] if isinstance(record, dict) else json.loads(record)["image"]
        if f"image <code>{image}</code>" not in page:
            problems.append(f"the nbconvert HTML ({target}) has no final state showing {image}")
    if records and not re.search(
        r"polymagic build [\w.-]+ .*succeeded( in [\d.:]+( s)?|: reused)", text
    ):
        problems.append(
            f"the nbconvert HTML ({target}) does not read `polymagic build ... succeeded`"
        )
    return problems


# -- the committed notebooks ----------------------------------------------------------------------

# Absolute local paths that must not leak into committed outputs or metadata.
LOCAL_PATHS = re.compile(
    r"(?<![\w.~-])(/tmp/|/root\b|/home/|/Users/|/var/folders/|/work/|pytest-of-)"
    + "|"
    + re.escape(str(REPO))
)


# Paths inside the image that freeze's Dockerfile names (pip's cache mount, the bind-mounted
# requirements file): shown in the views as text, never the machine's own.
IMAGE_PATHS = ("/root/.cache/pip", "/tmp/requirements.txt")


def _without_image_paths(text: str) -> str:
    for path in IMAGE_PATHS:
        text = text.replace(path, "")
    return text


@pytest.mark.parametrize("name", NOTEBOOK_FILES)
def test_committed_notebook_is_clean(name: str) -> None:
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    problems = [f"error output: {e}" for e in error_outputs(nb)]

    leaks = []
    for index, cell in enumerate(nb.cells):
        for where, value in (("outputs", cell.get("outputs", [])), ("metadata", cell.metadata)):
            for found in LOCAL_PATHS.finditer(_without_image_paths(json.dumps(value))):
                leaks.append(f"cell {index} {where}: {found.group(0)!r}")
    leaks += [
        f"notebook metadata: {m.group(0)!r}"
        for m in LOCAL_PATHS.finditer(_without_image_paths(json.dumps(nb.metadata)))
    ]
    problems += [f"absolute local path in {leak}" for leak in leaks]

    counts = [c.get("execution_count") for c in code_cells(nb)]
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") and cell.get("execution_count") is None:
            problems.append(f"cell {index} has outputs but no execution count")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "execute_result" and output.get(
                "execution_count"
            ) != cell.get("execution_count"):
                problems.append(
                    f"cell {index}: execute_result count {output.get('execution_count')} "
                    f"!= cell count {cell.get('execution_count')}"
                )
    run = [c for c in counts if c is not None]
    if run and run != list(range(1, len(run) + 1)):
        problems.append(f"execution counts are not 1, 2, 3... in order: {counts}")

    kernelspec = nb.metadata.get("kernelspec", {})
    if kernelspec.get("name") != "python3":
        problems.append(f"kernelspec is {kernelspec!r}, expected name python3")
    assert not problems, f"{path.relative_to(REPO)}:\n- " + "\n- ".join(problems)
