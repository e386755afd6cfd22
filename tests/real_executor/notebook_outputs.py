"""Re-execute the example notebooks against the local stack and save them with their outputs,
so a reader on GitHub or nbviewer sees what a run shows (the views, the progress widget's final
state, the result), not code alone.

    python -m tests.real_executor.notebook_outputs save     (needs root: runc; .ci/setup first)

It starts :class:`~tests.real_executor.local_stack.LocalStack` (control plane, the node running
the real Kaniko executor under runc, the registry), gives the kernel a home of its own as a user
has one (``~/.kube/config`` whose context names the build namespace, the catalog in
``~/.config/polymagic/connections.yaml``), executes each notebook in a copy of ``notebooks/``,
and writes it back with:

- local paths under that home shown as ``~`` and the run's temporary folder as ``<run>``
  (nothing else of the run is changed);
- ``metadata.polymagic.code_sha256``: the hash of the notebook's code cells when it ran.
  ``tests/notebook/test_saved_notebooks.py`` fails when the code changed since: the outputs are
  stale and this command must be run again.

The base images the notebooks name (Docker Hub's) are the local busybox base pushed under those
names, which the executor pulls through its registry mirror, as in the real-executor tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
import yaml

from tests.notebook.kernel_env import (
    CATALOG,
    NOTEBOOKS,
    KernelEnv,
    create_registry_secret,
    write_kernelspec,
)
from tests.real_executor.local_stack import LocalStack

__all__ = ["code_sha256", "main", "save_notebooks"]

DOCKER_HUB_BASES = (
    ("tensorflow/tensorflow", "2.0.1-py3"),
    ("library/python", "3.11-slim"),
    ("library/python", "3.12-slim"),
    ("library/python", f"{sys.version_info.major}.{sys.version_info.minor}-slim"),
)
HOME_NAME = "home"


def code_sha256(nb: Any) -> str:
    """The hash of a notebook's code cells, in order: what its saved outputs were made by."""
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
            digest.update(source.encode() + b"\0")
    return digest.hexdigest()


def _user_home(stack: LocalStack, workdir: Path) -> KernelEnv:
    """A kernel environment shaped like a user's: a home with a kubeconfig and a catalog."""
    assert stack.registry is not None
    home = workdir / HOME_NAME
    (home / ".kube").mkdir(parents=True)
    config = yaml.safe_load(stack.kubeconfig.read_text())
    for context in config["contexts"]:
        context["context"]["namespace"] = stack.namespace
    (home / ".kube" / "config").write_text(yaml.safe_dump(config))
    catalog = [dict(c) for c in CATALOG]
    for connection in catalog:
        if connection["name"] == "docker-connection":
            connection["schema"] = {"url": f"{stack.registry.host}/org", "insecure": True}
    settings = home / ".config" / "polymagic"
    settings.mkdir(parents=True)
    (settings / "connections.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    create_registry_secret(stack.kubeconfig, stack.namespace)
    jupyter = workdir / "jupyter"
    for sub in ("config", "data", "runtime", "path", "ipython", "tmp"):
        (jupyter / sub).mkdir(parents=True, exist_ok=True)
    extra = {
        "HOME": str(home),
        "PYTHONPATH": str(NOTEBOOKS.parent),
        "IPYTHONDIR": str(jupyter / "ipython"),
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "JUPYTER_PATH": str(jupyter / "path"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "TMPDIR": str(jupyter / "tmp"),
        "PYTHONUNBUFFERED": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    write_kernelspec(jupyter / "path", {k: extra[k] for k in ("HOME", "PYTHONPATH", "TMPDIR")})
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("POLYMAGIC_", "KUBE", "XDG_"))
    }
    environ.update(extra)
    return KernelEnv(
        stack.namespace,
        home / ".kube" / "config",
        settings / "connections.yaml",
        jupyter / "path",
        home,
        environ,
        extra,
    )


def _scrub(nb: Any, workdir: Path) -> Any:
    """Local paths of the run shown as a reader's: the home as ``~``, the rest as ``<run>``."""
    text = json.dumps(nb)
    text = text.replace(str(workdir / HOME_NAME), "~").replace(str(workdir), "<run>")
    return nbformat.from_dict(json.loads(text))


def save_notebooks(workdir: Path, names: list[str]) -> int:
    from nbclient import NotebookClient

    stack = LocalStack(workdir / "stack", log=True)
    with stack:
        from tests.real_executor.base_image import make_base_layout, push_base

        assert stack.registry is not None
        assert stack.engine is not None
        layout = make_base_layout(workdir / "base-layout")
        for repository, tag in dict.fromkeys(DOCKER_HUB_BASES):
            push_base(layout, stack.registry, repository, tag)
        stack.engine.set_node_env(stack.namespace, {"KANIKO_REGISTRY_MIRROR": stack.registry.host})
        env = _user_home(stack, workdir)
        copies = workdir / "notebooks"
        shutil.copytree(NOTEBOOKS, copies)
        for name in names:
            print(f"[notebooks] executing {name}", file=sys.stderr, flush=True)
            nb = nbformat.read(copies / name, as_version=4)
            client = NotebookClient(
                nb,
                timeout=600,
                startup_timeout=90,
                kernel_name="python3",
                resources={"metadata": {"path": str(copies)}},
                store_widget_state=True,
            )
            client.execute(env=env.environ)
            nb.metadata.setdefault("polymagic", {})["code_sha256"] = code_sha256(nb)
            nbformat.write(_scrub(nb, workdir), NOTEBOOKS / name)
            print(f"[notebooks] saved {NOTEBOOKS / name}", file=sys.stderr, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.real_executor.notebook_outputs")
    parser.add_argument("command", choices=["save"])
    parser.add_argument("names", nargs="*", help="notebook file names (default: every one)")
    args = parser.parse_args(argv)
    # The quick start first: it builds with --keep and cancels that build, which needs a pod
    # (a notebook run before it could leave the same image in the registry to reuse).
    found = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    names = args.names or sorted(found, key=lambda name: name != "quick-start.ipynb")
    workdir = Path(tempfile.mkdtemp(prefix="polymagic-notebooks-"))
    try:
        return save_notebooks(workdir, names)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
