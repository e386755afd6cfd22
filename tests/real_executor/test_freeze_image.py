"""``%polybuild freeze --imported`` proven on a real image (issue 18, item 6).

A real kernel (:mod:`tests.real_executor.freeze_image_kernel`: its user packages installed from
the tests' package index) runs notebook code that imports in each way freeze used to miss: a
helper ``.py`` next to the notebook (which imports a package), imports inside a function that
never ran (one of a package the tooling also needs), a name re-exported from another module
(``typing_extensions.Literal`` is ``typing.Literal``; ``six.moves.reduce`` is
``functools.reduce``), and a plain import. The freeze runs through the magic, as a user runs it,
with ``--pip-conf`` naming the connection that holds the index's ``pip.conf``. Its operation is
built as written, with ``polymagic build``, by the real Kaniko executor on the runc node, FROM a
Debian-made Python base with a venv (built first, the same way); the pushed image is then run
under runc (:mod:`tests.real_executor.image_runner`) and must import every module the notebook's
code imported, from the image's own site-packages and ``/code``, and run the helper's function.
"""

from __future__ import annotations

import ast
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from tests.cluster import admin
from tests.freeze.kernel_client import Kernel
from tests.freeze.kernel_venv import FreezeKernel
from tests.real_executor.freeze_image_kernel import (
    USER_PACKAGES,
    ImageKernel,
    ensure_image_kernel,
)
from tests.real_executor.helpers import build_in, catalog, polymagic_build, write_inputs
from tests.real_executor.image_runner import unpack_image
from tests.real_executor.package_index import PackageIndex
from tests.real_executor.python_base import PythonBaseUnavailable, wheels_dir
from tests.real_executor.registry_view import MANIFEST_TYPES, RegistryView
from tests.registry.server import RegistryServer
from tests.tiers import unavailable

pytestmark = pytest.mark.slow

VENV_BASE = ("base/python", "3.11-venv")
"""The Python base with a venv first on PATH (Debian's python3 refuses system-wide installs)."""
DESTINATION = "frozen/notebook"
HELPER = """\
import toolz


def shout(words):
    return toolz.pipe(words, str.upper, lambda text: text + "!")
"""
NOTEBOOK_CELLS = [
    "import pyparsing\nfrom six.moves import reduce\nfrom typing_extensions import Literal\n",
    "from helper import shout\nMode = Literal['fast', 'slow']\n",
    # Never called in the kernel: freeze reads the imports from the code itself.
    "def later():\n"
    "    import yaml\n"
    "    import more_itertools\n"
    "    return yaml.safe_load('a: [1, 2]'), more_itertools.first([3])\n",
    "print(shout('ok'), reduce(lambda a, b: a + b, [1, 2, 3]), pyparsing.__version__)\n",
]
IMPORTED = ["pyparsing", "six", "six.moves", "typing_extensions", "helper", "toolz", "yaml",
            "more_itertools"]  # fmt: skip
"""Every module the notebook's code imports (the helper's included; six for six.moves)."""
IN_THE_IMAGE = f"""\
import importlib, json, sys
{"".join(NOTEBOOK_CELLS)}
modules = {{name: importlib.import_module(name) for name in {IMPORTED!r}}}
# Where each came from (six.moves is made by six at run time: its package's file says).
where = {{name: sys.modules[name.split(".")[0]].__file__ for name in modules}}
print(json.dumps({{"later": later(), "shout": shout("image"), "where": where}}))
"""


def _imports(source: str) -> set[str]:
    """The modules ``import`` statements in ``source`` name (read here independently of
    polymagic, to keep :data:`IMPORTED` honest when the cells change)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.fixture
def index(tmp_path: Path) -> Iterator[PackageIndex]:
    """The tests' index over the Python base's wheels (and, once the kernel is made, the wheels
    of what the tooling also brought)."""
    try:
        wheels = wheels_dir()
    except PythonBaseUnavailable as why:
        unavailable(str(why))
    served = tmp_path / "wheels"
    served.mkdir()
    for wheel in wheels.glob("*.whl"):
        (served / wheel.name).symlink_to(wheel)
    with PackageIndex(served) as running:
        yield running


def _serve_too(index: PackageIndex, kernel: ImageKernel) -> None:
    for wheel in kernel.wheels.glob("*.whl"):
        (index.wheels / wheel.name).symlink_to(wheel)


def _pip_conf_secret(kubeconfig: Path, namespace: str, index: PackageIndex) -> None:
    data = base64.b64encode(index.pip_conf().encode()).decode()
    admin.core(kubeconfig).create_namespaced_secret(
        namespace,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "team-pip"},
         "type": "Opaque", "data": {"pip.conf": data}},
    )  # fmt: skip


def _connections(registry: RegistryServer) -> list[dict[str, Any]]:
    pip_conf = {
        "name": "pip-conf",
        "kind": "custom",
        "secret": {"name": "team-pip", "mountPath": "/secrets/pip", "items": ["pip.conf"]},
    }
    return [*catalog(registry), pip_conf]


def _venv_base(kubeconfig: Path, namespace: str, registry: RegistryServer, base: str) -> str:
    """The Python base with ``/opt/venv`` first on PATH, built by the real executor."""
    op: dict[str, Any] = {
        "version": 1.1,
        "kind": "operation",
        "name": "venv-base",
        "params": {
            "destination": {"connection": "docker-connection", "value": ":".join(VENV_BASE)}
        },
        "runPatch": {
            "init": [
                {
                    "dockerfile": {
                        "image": base,
                        "env": {"PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin"},
                        "run": ["python3 -m venv /opt/venv"],
                    }
                }
            ]
        },
        "hubRef": "kaniko",
    }
    build_in(kubeconfig, namespace, op, registry)
    return registry.image(*VENV_BASE)


def test_the_frozen_notebook_builds_into_an_image_that_imports_everything_it_used(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    python_base: str,
    index: PackageIndex,
    tmp_path: Path,
) -> None:
    assert _imports("".join(NOTEBOOK_CELLS) + HELPER) | {"six"} == set(IMPORTED)
    made = ensure_image_kernel(index)
    _serve_too(index, made)
    work = tmp_path / "work"
    work.mkdir()
    (work / "helper.py").write_text(HELPER)
    venv_base = _venv_base(admin_kubeconfig, real_namespace, plain_registry, python_base)

    # The freeze tests' kernel client needs only the venv's Python (no local or git packages here).
    as_freeze_kernel = FreezeKernel(made.root, made.python, made.root, made.root, made.root, "")
    kernel = Kernel(as_freeze_kernel, work, tmp_path / "home")
    try:
        assert kernel.run("%load_ext polymagic").error is None
        ran = [kernel.run(cell) for cell in NOTEBOOK_CELLS]
        assert [cell.error for cell in ran] == [None] * len(ran)
        assert ran[-1].stdout == "OK! 6 3.1.4\n"
        frozen = kernel.run(
            f"%polybuild freeze --imported --base {venv_base} --destination {DESTINATION}"
            " --pip-conf pip-conf"
        )
    finally:
        kernel.close()
    assert frozen.error is None, frozen.error
    assert frozen.next_input is not None
    operation = frozen.next_input.removeprefix("%%polybuild\n")
    summary = next(text for text in frozen.texts if text.startswith("polymagic freeze:"))
    first, *_ = summary.splitlines()
    assert first.startswith("polymagic freeze: 6 packages pinned, 1 local module copied,"), first
    assert first.endswith(" 0 needing attention"), first
    assert "local code copied into the image: helper.py" in summary, summary
    requirements = (work / "requirements.txt").read_text()
    pinned = dict(
        line.split("==") for line in requirements.splitlines() if not line.startswith("#")
    )
    # Only the imported (and helper's) distributions, each pinned: those from the tests' index at
    # their versions, those the tooling brought at the kernel's.
    pinned_versions = {canonicalize_name(name): version for name, version in pinned.items()}
    pinned_names = set(pinned_versions)
    assert pinned_versions == {
        **{canonicalize_name(p.split("==")[0]): p.split("==")[1] for p in USER_PACKAGES},
        **{canonicalize_name(n): v for n, v in made.shared_versions().items()},
    }, requirements

    # Built as written: the cell's operation, with the build context the notebook's folder.
    _pip_conf_secret(admin_kubeconfig, real_namespace, index)
    inputs = write_inputs(work, operation, _connections(plain_registry))
    built = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    assert built.returncode == 0, built
    assert all(r.authorized for r in index.requests), index.requests
    assert {r.path.rsplit("/", 1)[-1].split("-")[0].lower() for r in index.requests
            if r.path.startswith("/files/") and r.status == 200} >= {
        "six", "toolz", "more_itertools", "pyparsing", "typing_extensions", "pyyaml"
    }  # fmt: skip

    view = RegistryView(plain_registry)
    digest = built.last_line.rsplit("@", 1)[-1]
    assert view.digest(DESTINATION, "latest") == digest
    image = unpack_image(view, DESTINATION, digest, tmp_path / "image")
    try:
        assert image.config["WorkingDir"] == "/code"
        done = image.run(["python", "-c", IN_THE_IMAGE], timeout=60)
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["later"] == [{"a": [1, 2]}, 3]
        assert result["shout"] == "IMAGE!"
        site = "/opt/venv/lib/python3.11/site-packages/"
        for name, where in result["where"].items():
            expected = "/code/helper.py" if name == "helper" else site
            assert where is not None, name
            assert where.startswith(expected), (name, where)
    finally:
        image.remove()
    # And the token never reached the image.
    assert index.token not in json.dumps(image.config)

    # The SBOM attached after the push lists what the image holds, and marks as imported by the
    # kernel exactly the distributions the notebook's code imported (freeze's record).
    prefix = digest.replace(":", "-")
    assert f"attached the SBOM as {plain_registry.host}/{DESTINATION}:{prefix}.sbom" in (
        built.stderr
    )
    body, _ = view._get(f"/v2/{DESTINATION}/manifests/{prefix}.sbom", MANIFEST_TYPES)
    sbom = json.loads(view.blob(DESTINATION, json.loads(body)["layers"][0]["digest"]))
    python = {
        canonicalize_name(c["name"]): c
        for c in sbom["components"]
        if c.get("purl", "").startswith("pkg:pypi/")
    }
    assert {name: python[name]["version"] for name in pinned_names} == pinned_versions
    marked = {
        name
        for name, component in python.items()
        if {"name": "polymagic:imported-by-kernel", "value": "true"}
        in component.get("properties", [])
    }
    assert marked == pinned_names, marked
    # The Debian-made base's own packages are there too, from its dpkg status.
    debian = {c["name"] for c in sbom["components"] if c.get("purl", "").startswith("pkg:deb/")}
    assert {"python3", "python3-minimal", "libc6"} <= debian, sorted(debian)[:20]
