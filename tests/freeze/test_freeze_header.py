"""The line naming what the notebook's code imported: written by ``freeze``, read back (and
checked) for the build's SBOM, where each such package carries ``polymagic:imported-by-kernel``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from polymagic.app.freeze_command import kernel_imports
from polymagic.outcome.cyclonedx import IMPORTED_PROPERTY, sbom_document
from polymagic.outcome.sbom_layers import Package
from polymagic.render.freeze import Distribution, Environment, FreezeOptions, freeze
from polymagic.render.freeze_header import IMPORTED_PREFIX, read_imported, without_imported_line

PY = (3, 11, 7)
DISTRIBUTIONS = (
    Distribution("polymagic", "0.1.0", ("pyyaml",)),
    Distribution("PyYAML", "6.0.1"),
    Distribution("pandas", "2.2.0", ("numpy",)),
    Distribution("numpy", "1.26.4"),
    Distribution("mine", "0.1", direct_url={"url": "file:///x", "dir_info": {"editable": True}}),
)
RUN = "FROM python:3.11-slim\nCOPY requirements.txt /code\nRUN pip install --no-cache-dir -r {}\n"


def _environment(used: set[str]) -> Environment:
    return Environment(PY, DISTRIBUTIONS, used=frozenset(used), imported=frozenset(used))


def test_freeze_names_what_the_code_imported_and_the_file_pins() -> None:
    """pyyaml is the tooling's, yet pinned since the code imports it; numpy only as pandas'
    requirement; mine is an editable install, a comment, so not named."""
    text = freeze(_environment({"pandas", "pyyaml", "mine"})).requirements
    lines = text.splitlines()
    assert lines[1] == IMPORTED_PREFIX + "pandas pyyaml"
    assert read_imported(text) == {"pandas", "pyyaml"}
    imported_only = freeze(_environment({"pandas"}), FreezeOptions(imported_only=True))
    assert read_imported(imported_only.requirements) == {"pandas"}
    # Nothing imported (the command line): no line at all.
    assert IMPORTED_PREFIX not in freeze(_environment(set())).requirements
    # Two freezes of the same packages differ only by the line (the build form compares them).
    pandas, numpy = (freeze(_environment({name})).requirements for name in ("pandas", "numpy"))
    assert pandas != numpy
    assert without_imported_line(pandas) == without_imported_line(numpy)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"# x\n{IMPORTED_PREFIX}numpy flask\nnumpy==1\n", id="not-pinned"),
        pytest.param(f"# x\n{IMPORTED_PREFIX}NumPy\nnumpy==1\n", id="not-canonical"),
        pytest.param(f"# x\n{IMPORTED_PREFIX}numpy --index-url\nnumpy==1\n", id="option"),
        pytest.param(f"{IMPORTED_PREFIX}numpy\n{IMPORTED_PREFIX}numpy\nnumpy==1\n", id="twice"),
        pytest.param("# a\n# b\n# c\n# d\n" + f"{IMPORTED_PREFIX}numpy\nnumpy==1\n", id="late"),
        pytest.param(f"# x\n{IMPORTED_PREFIX}" + "a " * 200_000 + "\na==1\n", id="huge"),
        pytest.param(f"# x\n{IMPORTED_PREFIX}numpy\n# numpy==1\n", id="only-a-comment"),
    ],
)
def test_a_line_that_is_not_as_freeze_writes_it_reads_as_nothing(text: str) -> None:
    names = read_imported(text)
    assert "numpy" not in names
    assert "a" not in names


def test_the_build_finds_the_file_its_dockerfile_installs(tmp_path: Path) -> None:
    context = tmp_path / "context"
    (context / "deps").mkdir(parents=True)
    (context / "deps" / "r.txt").write_text(f"# x\n{IMPORTED_PREFIX}numpy\nnumpy==1.26.4\n")
    assert kernel_imports(RUN.format("deps/r.txt"), context) == {"numpy"}
    outside = tmp_path / "outside.txt"
    outside.write_text(f"# x\n{IMPORTED_PREFIX}numpy\nnumpy==1.26.4\n")
    os.symlink(outside, context / "linked.txt")
    for target in ("../outside.txt", "linked.txt", "missing.txt", "deps"):
        assert kernel_imports(RUN.format(target), context) == frozenset(), target
    assert kernel_imports(RUN.format("deps/r.txt"), None) == frozenset()
    assert kernel_imports(None, context) == frozenset()


def test_the_sbom_marks_what_the_kernel_imported() -> None:
    packages = [
        Package("pypi", "PyYAML", "6.0.1", path="usr/local/lib/python3.11/site-packages"),
        Package("pypi", "numpy", "1.26.4"),
        Package("deb", "pyyaml", "6.0-3", arch="amd64"),
    ]
    document = sbom_document(
        image="registry.local/app", digest="sha256:" + "a" * 64, packages=packages,
        imported={"pyyaml"},
    )  # fmt: skip
    by_purl = {c["purl"]: c.get("properties", []) for c in document["components"]}
    assert by_purl["pkg:pypi/pyyaml@6.0.1"] == [
        {"name": "polymagic:path", "value": "usr/local/lib/python3.11/site-packages"},
        {"name": IMPORTED_PROPERTY, "value": "true"},
    ]
    assert by_purl["pkg:pypi/numpy@1.26.4"] == []
    assert all(
        p["name"] != IMPORTED_PROPERTY for p in by_purl["pkg:deb/debian/pyyaml@6.0-3?arch=amd64"]
    )
