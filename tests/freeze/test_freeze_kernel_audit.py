"""The classes of issue 18 again, each through a case other than the one its first test used:
an import in a method of a helper's class, a helper package with relative imports, a file run
with ``%run``, editable installs by flit and pdm-backend, another namespace package
(``jaraco``), a re-export through another library's lazy modules (``six.moves``). In a real
kernel of the freeze venv, with the round trip of ``round_trip`` where the image can have it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.freeze.kernel_client import Kernel
from tests.freeze.kernel_venv import FreezeKernel
from tests.freeze.round_trip import run_in_image, stand_in_image
from tests.freeze.test_freeze_kernel_classes import _active, _freeze, _names, _round_trip

pytestmark = pytest.mark.slow


def test_a_method_of_a_helpers_class_and_a_helper_package_with_relative_imports(
    kernel: Kernel, tmp_path: Path
) -> None:
    """attrs is imported only inside a method never called; python-dateutil (the tooling's too)
    only by a module the package's ``__init__`` imports relatively."""
    work = tmp_path / "work"
    (work / "models.py").write_text(
        "class Model:\n    def fit(self):\n        import attr\n        return attr.__name__\n"
    )
    (work / "pipeline").mkdir()
    (work / "pipeline" / "__init__.py").write_text("from .steps import clean\n")
    (work / "pipeline" / "steps.py").write_text(
        "def clean():\n    from dateutil import parser\n    return parser.__name__\n"
    )
    code = "from models import Model\nimport pipeline\n"
    assert kernel.run(code).error is None
    operation, texts = _freeze(kernel)
    assert {"attrs", "python-dateutil"} <= _names(_active(work / "requirements.txt"))
    assert "local code copied into the image: models.py, pipeline" in texts[0], texts[0]
    _round_trip(
        operation, work, tmp_path / "image", code + "print(Model().fit(), pipeline.clean())"
    )


def test_a_file_run_with_percent_run_is_copied_and_what_it_imports_is_kept(
    kernel: Kernel, tmp_path: Path
) -> None:
    """``%run`` executes a file in the notebook's namespace: it is never imported, yet the
    notebook needs it and what its functions import."""
    work = tmp_path / "work"
    (work / "setup_env.py").write_text("def load():\n    import attr\n    return attr.__name__\n")
    assert kernel.run("%run setup_env.py").error is None
    operation, texts = _freeze(kernel)
    assert "attrs" in _names(_active(work / "requirements.txt"))
    assert "local code copied into the image: setup_env.py" in texts[0], texts[0]
    _round_trip(
        operation, work, tmp_path / "image", "exec(open('setup_env.py').read())\nprint(load())"
    )


def test_editable_installs_by_flit_and_pdm_are_named_not_dropped(
    kernel: Kernel, venv: FreezeKernel, tmp_path: Path
) -> None:
    assert kernel.run("import flitpkg, pdmpkg").error is None
    operation, texts = _freeze(kernel)
    written = (tmp_path / "work" / "requirements.txt").read_text()
    assert f"# flitpkg==0.2.0: an editable install ({venv.flit_package})" in written
    assert f"# pdmpkg==0.2.0: an editable install ({venv.pdm_package})" in written
    assert "2 needing attention" in texts[0], texts[0]
    stand_in_image(operation, tmp_path / "work", tmp_path / "image")
    ran = run_in_image(tmp_path / "image", "import flitpkg")
    assert "No module named 'flitpkg'" in ran.stderr  # as the warning said


def test_another_namespace_package_pins_only_what_was_imported(
    kernel: Kernel, tmp_path: Path
) -> None:
    code = "from jaraco.functools import compose\nprint(compose(str, len)('ab'))\n"
    assert kernel.run(code).error is None
    operation, _ = _freeze(kernel)
    names = _names(_active(tmp_path / "work" / "requirements.txt"))
    assert {"jaraco.functools", "more-itertools"} <= names, names
    assert "jaraco.classes" not in names
    _round_trip(operation, tmp_path / "work", tmp_path / "image", code)


def test_a_name_from_another_librarys_lazy_module_counts(kernel: Kernel, tmp_path: Path) -> None:
    """``six.moves`` modules have no file of their own (six makes them on import); six is the
    tooling's too (python-dateutil requires it)."""
    code = "from six.moves.urllib.parse import urlparse\nprint(urlparse('https://a/b').path)\n"
    assert kernel.run(code).error is None
    operation, _ = _freeze(kernel)
    assert "six" in _names(_active(tmp_path / "work" / "requirements.txt"))
    _round_trip(operation, tmp_path / "work", tmp_path / "image", code)
