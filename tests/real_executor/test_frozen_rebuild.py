"""``freeze``'s image layout with the real executor: the compiled pins' install is a step of its
own, so rebuilding after adding a pure-Python package takes it from Kaniko's layer cache, and
only the step installing the bind-mounted requirements file runs again.

The environment is made by hand (``freeze`` on an :class:`Environment`), on the Debian-made
Python base and the private index of ``tests/real_executor/package_index.py``: ``six`` stands in
for a compiled distribution (its wheel is pure, but ``freeze`` goes by what the environment
says), ``attrs`` is pure, and the rebuild adds ``toolz``. The base has no ``pip`` until a venv
gives one, so ``python3 -m venv /venv`` runs first with ``/venv/bin`` on the PATH, and each pip
step mounts ``pip.conf`` with the index's token (``benchmarks/bench_rebuild.py`` does the same
with a data-science environment).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from polymagic.render.build_objects import KanikoOptions
from polymagic.render.freeze import Distribution, Environment, FreezeOptions, freeze
from tests.cluster.simulated_node import SimulatedNode
from tests.real_executor.package_index import PackageIndex
from tests.real_executor.registry_view import RegistryView
from tests.real_executor.test_private_index import (
    SECRET_MOUNT,
    _build,
    _catalog,
    _log,
    _pip_conf_secret,
)
from tests.registry.server import RegistryServer

pytestmark = [pytest.mark.cluster, pytest.mark.real_executor]

DESTINATION = "frozen/app"
COMPILED = Distribution("six", "1.16.0", compiled=True)
PURE = Distribution("attrs", "24.2.0")
ADDED = Distribution("toolz", "0.12.1")


def _frozen(base: str, context: Path, *dists: Distribution) -> dict[str, Any]:
    """What ``freeze`` writes for ``dists`` (its requirements file into ``context``), on the
    Debian base."""
    frozen = freeze(
        Environment((3, 11, 2), dists),
        FreezeOptions(base=base, destination=DESTINATION, connection="docker-connection"),
    )
    (context / "requirements.txt").write_text(frozen.requirements)
    op: dict[str, Any] = yaml.safe_load(frozen.operation)
    dockerfile = op["runPatch"]["init"][0]["dockerfile"]
    dockerfile["path"] = ["/venv/bin"]
    dockerfile["run"] = [
        "python3 -m venv /venv",
        *(f"{SECRET_MOUNT} {line}" for line in dockerfile["run"]),
    ]
    op["runPatch"]["connections"] = ["pip-conf"]
    return op


def test_adding_a_pure_package_keeps_the_compiled_layer_cached(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    python_base: str,
    index: PackageIndex,
    sim_node: SimulatedNode,
    tmp_path: Path,
) -> None:
    _pip_conf_secret(admin_kubeconfig, real_namespace, index)
    connections = _catalog(plain_registry)
    kaniko = KanikoOptions(cache_repo=f"{plain_registry.host}/{DESTINATION}/layers")
    first = _frozen(python_base, tmp_path, COMPILED, PURE)
    assert first["runPatch"]["init"][0]["dockerfile"]["run"][1].endswith("pip install six==1.16.0")
    _build(
        admin_kubeconfig, real_namespace, first, connections, kaniko=kaniko, context_dir=tmp_path
    )
    again = _frozen(python_base, tmp_path, COMPILED, PURE, ADDED)
    result = _build(
        admin_kubeconfig, real_namespace, again, connections, kaniko=kaniko, context_dir=tmp_path
    )
    log = _log(sim_node, real_namespace)
    compiled_step = "pip install six==1.16.0"
    assert f"Using caching version of cmd: RUN {SECRET_MOUNT}" in log, log
    cached = [line.rstrip() for line in log.splitlines() if "Using caching version of cmd" in line]
    assert any(line.endswith(compiled_step) for line in cached), cached
    assert not any("--mount=type=bind" in line for line in cached), cached
    # Only the requirements file's step ran: six was there already, toolz and attrs came.
    assert "Requirement already satisfied: six==1.16.0" in log, log
    assert "Successfully installed attrs-24.2.0 toolz-0.12.1" in log, log
    view = RegistryView(plain_registry)
    digest = view.digest(DESTINATION, "latest")
    assert result.image.endswith(f"@{digest}")
    # The bind-mounted file left nothing behind; the copy after the RUN steps is in /code.
    files = view.image(DESTINATION, str(digest)).all_files()
    assert "tmp/requirements.txt" not in files
    assert b"toolz==0.12.1" in files["code/requirements.txt"]
