"""The example notebooks are committed with the outputs of a real run (a reader on GitHub sees
what a run shows), and those outputs are not stale: each notebook records the hash of the code
cells that made them, and a change to the code without re-running
``python -m tests.real_executor.notebook_outputs save`` fails here."""

from __future__ import annotations

import nbformat
import pytest

from tests.notebook.kernel_env import NOTEBOOKS
from tests.real_executor.notebook_outputs import code_sha256

NOTEBOOK_FILES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
HOW = "run `python -m tests.real_executor.notebook_outputs save` (as root, after .ci/setup)"


@pytest.mark.parametrize("name", NOTEBOOK_FILES)
def test_the_saved_outputs_are_those_of_the_code_in_the_notebook(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    saved = nb.metadata.get("polymagic", {}).get("code_sha256")
    assert saved is not None, f"{name} was not saved with the outputs of a run: {HOW}"
    assert saved == code_sha256(nb), f"{name}: the code changed since its outputs were saved: {HOW}"


@pytest.mark.parametrize("name", NOTEBOOK_FILES)
def test_every_code_cell_shows_that_it_ran(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1)), name
    # Only cells that display nothing by design may have no output.
    silent = [c.source.splitlines()[0] for c in cells if not c.outputs]
    assert all(s.startswith(("%load_ext", "tag =", "%config", "import ")) for s in silent), silent
