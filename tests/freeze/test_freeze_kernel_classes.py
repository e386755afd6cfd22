"""Each way ``freeze`` used to be silently wrong (issue 18), in a real kernel of the freeze venv,
and its round trip: the written requirements installed into a fresh venv of the same Python (the
image's stand-in, ``round_trip``), the context copied as the operation says, the user's code run
there. What cannot be installed must instead be named in the warnings with what to do.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from tests.freeze.kernel_client import Kernel
from tests.freeze.kernel_venv import FreezeKernel
from tests.freeze.round_trip import run_in_image, stand_in_image

pytestmark = pytest.mark.slow

DESTINATION = "registry.example.com/org/frozen"


def _active(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def _names(lines: list[str]) -> set[str]:
    return {line.split("==")[0].split(" @ ")[0].lower().replace("_", "-") for line in lines}


def _freeze(kernel: Kernel, options: str = "--imported") -> tuple[str, list[str]]:
    done = kernel.run(f"%polybuild freeze {options} --destination {DESTINATION}")
    assert done.error is None, done.error
    assert done.next_input is not None
    summary = next(text for text in done.texts if text.startswith("polymagic freeze:"))
    return done.next_input.removeprefix("%%polybuild\n"), [summary, *done.texts]


def _round_trip(operation: str, work: Path, image: Path, code: str) -> None:
    stand_in_image(operation, work, image)
    ran = run_in_image(image, code)
    assert ran.returncode == 0, ran.stderr[-2000:]


CODE_IN_A_FUNCTION = """\
def fetch():
    import requests
    return requests.__version__

def later():
    import yaml
    return yaml.safe_load("a: 1")

fetch()
"""


def test_an_import_inside_a_function_is_kept_though_the_tooling_needs_it_too(
    kernel: Kernel, tmp_path: Path
) -> None:
    """requests and PyYAML are polymagic's dependencies too; the user's functions import them
    (one of the functions never ran)."""
    assert kernel.run(CODE_IN_A_FUNCTION).error is None
    operation, _ = _freeze(kernel)
    work = tmp_path / "work"
    names = _names(_active(work / "requirements.txt"))
    assert {"requests", "pyyaml", "urllib3", "idna"} <= names, names
    assert not names & {"ipykernel", "polymagic", "kubernetes"}
    _round_trip(operation, work, tmp_path / "image", CODE_IN_A_FUNCTION + "print(later())")


def test_a_helper_next_to_the_notebook_is_copied_and_what_it_imports_is_kept(
    kernel: Kernel, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    (work / "helper.py").write_text(
        "import six\n\ndef shout(text):\n    return six.u(text).upper()\n"
    )
    (work / "tools").mkdir()
    (work / "tools" / "__init__.py").write_text("")
    (work / "tools" / "net.py").write_text("def get():\n    import requests\n    return requests\n")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "faraway.py").write_text("VALUE = 3\n")
    code = "import helper\nfrom tools import net\nprint(helper.shout('ok'), net.get().__name__)\n"
    assert (
        kernel.run(f"import sys\nsys.path.append({str(outside)!r})\nimport faraway").error is None
    )
    assert kernel.run(code).error is None
    operation, texts = _freeze(kernel)
    assert {"six", "requests"} <= _names(_active(work / "requirements.txt"))
    assert "2 local modules copied" in texts[0], texts[0]
    assert "local code copied into the image: helper.py, tools" in texts[0]
    assert "1 needing attention" in texts[0], texts[0]
    assert any(f"faraway: local code at {outside / 'faraway.py'}, outside the build context" in t
               for t in texts)  # fmt: skip
    copy = yaml.safe_load(operation)["runPatch"]["init"][0]["dockerfile"]["postRunCopy"]
    assert copy == ["requirements.txt", "helper.py", ["tools", "/code/tools"]]
    _round_trip(operation, work, tmp_path / "image", code)


def test_a_name_re_exported_from_another_module_counts(kernel: Kernel, tmp_path: Path) -> None:
    """``typing_extensions.Literal`` is ``typing.Literal`` on 3.11: its ``__module__`` says
    typing, the import says typing_extensions."""
    code = "from typing_extensions import Literal\nMode = Literal['a', 'b']\n"
    assert kernel.run(code).error is None
    operation, _ = _freeze(kernel)
    assert "typing-extensions" in _names(_active(tmp_path / "work" / "requirements.txt"))
    _round_trip(operation, tmp_path / "work", tmp_path / "image", code)


def test_a_hatchling_editable_install_is_named_not_dropped(
    kernel: Kernel, venv: FreezeKernel, tmp_path: Path
) -> None:
    assert kernel.run("import hatchpkg").error is None
    operation, texts = _freeze(kernel)
    written = (tmp_path / "work" / "requirements.txt").read_text()
    assert f"# hatchpkg==0.2.0: an editable install ({venv.hatch_package})" in written
    assert "1 needing attention" in texts[0]
    assert any("hatchpkg==0.2.0: an editable install" in text for text in texts[1:])
    # The image will not have it: the round trip fails exactly there, and the warning said so.
    stand_in_image(operation, tmp_path / "work", tmp_path / "image")
    ran = run_in_image(tmp_path / "image", "import hatchpkg")
    assert "ModuleNotFoundError: No module named 'hatchpkg'" in ran.stderr


def _vendored_by_setuptools(venv: FreezeKernel) -> set[str]:
    """``name==version`` of every copy setuptools vendors with its ``.dist-info``."""
    [vendor] = (venv.root / "venv" / "lib").glob("python3*/site-packages/setuptools/_vendor")
    found = set()
    for info in vendor.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").split("-", 1)
        found.add(f"{name.lower().replace('_', '-')}=={version}")
    assert len(found) > 5, found
    return found


def test_setuptools_is_kept_for_a_base_without_it_and_its_vendored_copies_never(
    kernel: Kernel, venv: FreezeKernel, tmp_path: Path
) -> None:
    """The vendored copies are on the path once setuptools is imported; the venv also has real
    installs of two of them (jaraco.functools and its more-itertools, newer): setuptools loads
    those first, so pinning them is right, but never a vendored copy's version."""
    assert kernel.run("import setuptools").error is None
    operation, texts = _freeze(kernel, "--imported --base python:3.12-slim")
    lines = _active(tmp_path / "work" / "requirements.txt")
    assert "setuptools==80.9.0" in lines
    vendored = _vendored_by_setuptools(venv)
    written = {line.lower().replace("_", "-") for line in lines}
    assert not written & vendored, lines
    assert _names(lines) <= {"setuptools", "jaraco.functools", "more-itertools"}, lines
    assert any("has Python 3.12, the kernel 3.11" in text for text in texts)
    # The kernel's own Python brings setuptools (3.11): nothing to pin, nothing vendored either.
    (tmp_path / "work" / "requirements.txt").unlink()
    operation, _ = _freeze(kernel)
    lines = _active(tmp_path / "work" / "requirements.txt")
    assert not {line.lower().replace("_", "-") for line in lines} & vendored, lines
    assert "setuptools" not in _names(lines)
    _round_trip(operation, tmp_path / "work", tmp_path / "image", "import setuptools")


def test_a_package_installed_again_by_name_without_requested_is_kept_when_used(
    kernel: Kernel, tmp_path: Path
) -> None:
    """``pip install requests`` after polymagic wrote no REQUESTED; the notebook imports it."""
    code = "import requests\nprint(requests.__version__)\n"
    assert kernel.run(code).error is None
    operation, _ = _freeze(kernel, "")
    assert "requests" in _names(_active(tmp_path / "work" / "requirements.txt"))
    _round_trip(operation, tmp_path / "work", tmp_path / "image", code)


def test_a_namespace_package_pins_only_what_was_imported(kernel: Kernel, tmp_path: Path) -> None:
    code = "from google.protobuf import descriptor_pb2\nprint(descriptor_pb2.__name__)\n"
    assert kernel.run(code).error is None
    operation, _ = _freeze(kernel)
    names = _names(_active(tmp_path / "work" / "requirements.txt"))
    assert "protobuf" in names
    assert "googleapis-common-protos" not in names
    _round_trip(operation, tmp_path / "work", tmp_path / "image", code)


def test_the_default_pins_every_distribution_it_keeps_jupyter_included(
    kernel: Kernel, tmp_path: Path
) -> None:
    """nbclient (the user's) requires jupyter-client and jupyter-core: both pinned, like the
    rest of its closure; the tooling itself stays out."""
    operation, _ = _freeze(kernel, "")
    lines = _active(tmp_path / "work" / "requirements.txt")
    names = _names(lines)
    assert {"nbclient", "jupyter-client", "jupyter-core", "traitlets", "nbformat"} <= names
    assert all("==" in line for line in lines), lines
    assert not names & {"ipykernel", "ipython", "polymagic", "pip", "setuptools"}
    code = textwrap.dedent(
        """\
        import nbclient, jupyter_client, cattrs, six
        from google.protobuf import descriptor_pb2
        from google.api import annotations_pb2
        """
    )
    _round_trip(operation, tmp_path / "work", tmp_path / "image", code)


def test_a_package_installed_in_the_notebook_is_kept_though_never_imported(
    kernel: Kernel, venv: FreezeKernel, tmp_path: Path
) -> None:
    """requests and PyYAML are already installed (polymagic needs them), so pip writes no
    REQUESTED for them; the kernel's own history says the user asked for them."""
    info = venv.root / "venv" / "lib"
    assert not list(info.glob("python3*/site-packages/requests-*.dist-info/REQUESTED"))
    (tmp_path / "work" / "extra.txt").write_text("PyYAML  # for the configs\n")
    installed = kernel.run("%pip install requests\n!{sys.executable} -m pip install -r extra.txt")
    assert installed.error is None, installed.error
    assert "already satisfied: requests" in installed.stdout, installed.stdout
    operation, texts = _freeze(kernel, "")
    names = _names(_active(tmp_path / "work" / "requirements.txt"))
    assert {"requests", "pyyaml", "urllib3", "idna"} <= names, names
    assert "installed by you" not in texts[0]  # the default keeps them: nothing to say
    _round_trip(
        operation, tmp_path / "work", tmp_path / "image", "import requests, yaml, cattrs, six"
    )


def test_under_imported_what_you_installed_and_did_not_import_is_listed_not_dropped(
    kernel: Kernel, tmp_path: Path
) -> None:
    installed = kernel.run("%pip install requests\nimport six")
    assert installed.error is None, installed.error
    _, texts = _freeze(kernel)
    written = (tmp_path / "work" / "requirements.txt").read_text()
    assert _names(_active(tmp_path / "work" / "requirements.txt")) == {"six"}
    assert "installed by you but not imported (left out)" in texts[0], texts[0]
    [listed] = [line for line in texts[0].splitlines() if line.startswith("installed by you")]
    assert "requests==" in listed, listed
    assert "cattrs==23.2.3" in listed, listed
    assert "\n# requests==" in written, written
    # Not counted as tooling: it is the user's.
    assert "left out as tooling" in texts[0]


def test_the_file_names_what_the_notebook_imported_for_the_builds_sbom(
    kernel: Kernel, tmp_path: Path
) -> None:
    from polymagic.app.freeze_command import frozen_dockerfiles, kernel_imports

    code = "import cattrs\nfrom six.moves.urllib.parse import urlparse\n"
    assert kernel.run(code).error is None
    operation, _ = _freeze(kernel, "")
    work = tmp_path / "work"
    head = (work / "requirements.txt").read_text().splitlines()[:3]
    assert "# polymagic-imported-by-kernel: cattrs six" in head, head
    [(dockerfile, _)] = frozen_dockerfiles(operation, work)
    assert kernel_imports(dockerfile, work) == {"cattrs", "six"}
    _round_trip(operation, work, tmp_path / "image", code)
