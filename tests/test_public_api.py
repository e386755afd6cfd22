"""The public API is exactly what docs/api.md documents (as httpx tests its exported members):
a name added to ``polymagic.__all__`` without a line in the docs, or documented but not
exported, fails here; every name resolves; ``import polymagic`` stays light."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import polymagic

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTED = re.compile(r"^\| `([A-Za-z_]+)` \|", re.MULTILINE)


def test_the_exported_names_are_exactly_the_documented_ones() -> None:
    documented = DOCUMENTED.findall((ROOT / "docs" / "api.md").read_text())
    assert len(documented) == len(set(documented)), "a name is documented twice"
    assert sorted(documented) == sorted(polymagic.__all__)


def test_every_exported_name_resolves_and_unknown_names_do_not() -> None:
    for name in polymagic.__all__:
        assert getattr(polymagic, name) is not None, name
    # A plausible name that is not part of the API.
    with pytest.raises(AttributeError, match="module 'polymagic' has no attribute 'build'"):
        getattr(polymagic, "build")  # noqa: B009  (the lazy lookup is what is tested)


def test_importing_the_package_loads_none_of_the_heavy_libraries() -> None:
    code = (
        "import sys, polymagic\n"
        "heavy = ('kubernetes', 'pydantic', 'ipywidgets', 'IPython', 'jinja2', 'yaml')\n"
        "print(' '.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.stdout.split() == []


def test_the_errors_share_one_base() -> None:
    errors = [getattr(polymagic, n) for n in polymagic.__all__ if n.endswith("Error")]
    errors += [polymagic.BuildFailed, polymagic.BuildTimeout, polymagic.BuildCancelled]
    assert all(issubclass(e, polymagic.PolymagicError) for e in errors)
