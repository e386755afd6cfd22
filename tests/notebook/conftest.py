"""Fixtures for the notebook tests (the real-cluster fixtures come from ``tests/conftest.py``).

- ``kernel_env``: a fresh namespace with the registry secret ``regcred``, a connections catalog
  (``docker-connection`` -> ``registry.example.com/org``), and a kernelspec + environment so a
  kernel runs the project venv's Python, imports polymagic from the repo and builds on the
  test cluster (the simulated node plays the Kaniko pods);
- ``offline_kernel_env``: the same catalog, kernelspec and variables with no cluster at all (its
  ``KUBECONFIG`` names a file that does not exist), for notebooks that build nothing;
- ``kernelspec_lookup``: points this process's Jupyter paths at that kernelspec (for nbclient);
- ``notebook_copy``: a scratch copy of ``notebooks/`` to execute in (nothing is written into the
  repo);
- ``chromium``: the path of Debian's Chromium, or a failure saying how to install it;
- ``browser_output``: ``test-output/browser/`` in the repo, for screenshots.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cluster.simulated_node import SimulatedNode
from tests.notebook.kernel_env import (
    CHROMIUM,
    NOTEBOOKS,
    REPO,
    KernelEnv,
    prepare_kernel_env,
    write_kernel_env,
)


@pytest.fixture
def kernel_env(
    admin_kubeconfig: Path, namespace: str, sim_node: SimulatedNode, tmp_path: Path
) -> KernelEnv:
    return prepare_kernel_env(admin_kubeconfig, namespace, tmp_path / "kernel-env")


@pytest.fixture
def offline_kernel_env(tmp_path: Path) -> KernelEnv:
    home = tmp_path / "kernel-env"
    return write_kernel_env(home / "no-cluster.kubeconfig", "no-cluster", home)


@pytest.fixture
def kernelspec_lookup(kernel_env: KernelEnv, monkeypatch: pytest.MonkeyPatch) -> KernelEnv:
    """Make ``jupyter_client`` in this process find the test kernelspec first."""
    for name in (
        "JUPYTER_PATH",
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTER_RUNTIME_DIR",
        "JUPYTER_PLATFORM_DIRS",
        "IPYTHONDIR",
    ):
        monkeypatch.setenv(name, kernel_env.extra[name])
    return kernel_env


@pytest.fixture
def notebook_copy(tmp_path: Path) -> Path:
    target = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return target


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium, which `.ci/setup` "
            "installs (`apt-get install -y chromium`); run `./.ci/setup` first",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture
def browser_output() -> Path:
    folder = REPO / "test-output" / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
