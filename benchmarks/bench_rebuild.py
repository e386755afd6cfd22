"""Rebuilding a frozen-style image after adding one package, on the real stack: how much of the
cold build's executor time a pip cache volume (``RUN --mount=type=cache``) and Kaniko's layer
cache (``--cache`` with ``--cache-repo`` on the test registry) save.

Starts the local stack (``tests/real_executor/local_stack.py``: control plane, the node running
the real Kaniko executor under runc, Debian's docker-registry), pushes the Debian-made Python
base (``.ci/python-base.sh``) and serves the private index (``tests/real_executor/
package_index.py``, a token in ``pip.conf`` from a Kubernetes Secret through a connection). The
image: ``FROM`` the Python base, ``RUN python3 -m venv /venv``, then one ``RUN`` installing the
pinned wheels (the secret and the pip cache mounted), as ``freeze`` writes a frozen environment.

Each variant starts from nothing (its own repository, cache folder and cache repository),
builds the image cold with ten wheels, then rebuilds it with one package more:

- ``plain``: no cache volume, no layer cache (``cache: false``);
- ``volume``: a ``host_path`` volume at the executor's cache folder, no layer cache;
- ``volume+layers``: the volume and Kaniko's layer cache (``--cache-repo`` on the registry).

Printed: each build's executor time (``runc run`` started to exited, from the node), what pip
said (wheels downloaded and taken from its cache), and whether the warm rebuild with the cache
volume took at most 30% of the cold build's executor time (the issue's goal).

Run (as root, after .ci/setup): .venv/bin/python benchmarks/bench_rebuild.py [--repeat N]

Measured on 2026-12-07 (2 shared cores, load about 6; medians of 3 rounds, executor seconds):
plain 17.4 cold / 20.0 rebuild (100%); volume 18.0 / 21.0 (101%); volume+layers 26.1 / 17.9
(69%). The goal (<= 30% with the cache volume) is missed, and cannot be met by pip's cache
here: the wheels come from loopback (0.8 MB in all), so downloading is not what costs. The
pip step (3-5 s) is pip's start, resolving, unpacking and byte-compiling, which a cache does not
skip; ``python3 -m venv`` (7-19 s: ensurepip installs and compiles pip and setuptools) and
Kaniko's own work (unpacking the 106 MB base, snapshotting the filesystem after each RUN,
pushing) are the rest. Only the layer cache removes a step (the venv's), hence 69%. The cache
volume pays where downloads are large or remote (e.g. binary wheels of tens of MB from a
remote index), which this loopback benchmark does not model.
"""

from __future__ import annotations

import argparse
import base64
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from polymagic.kube.client import connect  # noqa: E402
from polymagic.kube.session import BuildOptions, build_image  # noqa: E402
from polymagic.render.build_objects import KanikoOptions  # noqa: E402
from polymagic.render.compiler import compile_operation  # noqa: E402
from polymagic.render.run_mounts import EXECUTOR_CACHE_DIR  # noqa: E402
from polymagic.spec.examples import QUICK_START  # noqa: E402
from polymagic.spec.loader import load_connections  # noqa: E402
from tests.cluster import admin  # noqa: E402
from tests.real_executor.local_stack import LocalStack  # noqa: E402
from tests.real_executor.package_index import PackageIndex  # noqa: E402
from tests.real_executor.python_base import (  # noqa: E402
    make_python_layout,
    push_python_base,
    wheels_dir,
)

PINNED = (
    "six==1.16.0",
    "idna==3.7",
    "certifi==2024.8.30",
    "urllib3==2.2.3",
    "packaging==24.1",
    "attrs==24.2.0",
    "toolz==0.12.1",
    "typing-extensions==4.12.2",
    "pyparsing==3.1.4",
    "soupsieve==2.6",
)
ADDED = "more-itertools==10.5.0"
MOUNTS = (
    "--mount=type=secret,id=pip-conf,target=/etc/pip.conf"
    " --mount=type=cache,target=/root/.cache/pip"
)
GOAL = 0.30


@dataclass
class Variant:
    name: str
    volume: bool
    layers: bool


VARIANTS = (
    Variant("plain", volume=False, layers=False),
    Variant("volume", volume=True, layers=False),
    Variant("volume+layers", volume=True, layers=True),
)


@dataclass
class Measured:
    executor: float
    downloaded: int
    cached: int
    cached_layers: int
    steps: tuple[float | None, ...]
    """Each Dockerfile step's seconds as polymagic read them from the log (None: unknown)."""


def _operation(base: str, repository: str, packages: tuple[str, ...], v: Variant) -> Any:
    op: dict[str, Any] = yaml.safe_load(QUICK_START)
    op["params"]["destination"]["value"] = repository
    op["params"]["cache"] = {"value": v.layers}
    dockerfile = op["runPatch"]["init"][0]["dockerfile"]
    dockerfile["image"] = base
    dockerfile["run"] = [
        "python3 -m venv /venv",
        f"{MOUNTS} /venv/bin/pip install --progress-bar off {' '.join(packages)}",
    ]
    op["runPatch"]["connections"] = ["pip-conf", *(["pip-cache"] if v.volume else [])]
    return op


def _catalog(stack: LocalStack, cache: Path) -> list[dict[str, Any]]:
    return [
        *stack.connections(),
        {
            "name": "pip-conf",
            "kind": "custom",
            "secret": {"name": "pip-conf", "mountPath": "/secrets/pip", "items": ["pip.conf"]},
        },
        {
            "name": "pip-cache",
            "kind": "host_path",
            "schema": {"hostPath": str(cache), "mountPath": EXECUTOR_CACHE_DIR},
        },
    ]


def _build(stack: LocalStack, op: Any, catalog: list[dict[str, Any]], v: Variant) -> Measured:
    assert stack.engine is not None
    assert stack.node is not None
    assert stack.registry is not None
    build = compile_operation(op, connections=load_connections(catalog))
    kaniko = KanikoOptions(
        cache_repo=f"{stack.registry.host}/{op['params']['destination']['value']}/layers"
        if v.layers
        else None
    )
    options = BuildOptions(
        namespace=stack.namespace,
        timeout=600,
        force=True,
        kaniko=kaniko,
        allowed_pod_fields=("hostPath",),
    )
    before, seen_before = len(stack.engine.runs), len(stack.node.seen_pods)
    cluster = connect(stack.kubeconfig, namespace=stack.namespace)
    try:
        result = build_image(cluster, build, options)
    finally:
        cluster.close()
    (run,) = stack.engine.runs[before:]
    deadline = time.monotonic() + 15
    while "exited" not in run.times and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = stack.node.seen_pods[seen_before:]
    log = "\n".join(line for p in seen for s in p.containers.values() for line in s.log.lines())
    return Measured(
        executor=run.times["exited"] - run.times["started"],
        downloaded=len(re.findall(r"^\s*Downloading \S+\.whl", log, re.M)),
        cached=len(re.findall(r"^\s*Using cached \S+\.whl", log, re.M)),
        cached_layers=log.count("Found cached layer"),
        steps=tuple(step.duration for step in result.steps),
    )


def _secret(stack: LocalStack, index: PackageIndex) -> None:
    admin.core(stack.kubeconfig).create_namespaced_secret(
        stack.namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "pip-conf"},
            "type": "Opaque",
            "data": {"pip.conf": base64.b64encode(index.pip_conf().encode()).decode()},
        },
    )


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def _show(label: str, m: Measured, cold: float | None = None) -> None:
    share = f" = {m.executor / cold:4.0%} of cold" if cold else ""
    print(
        f"  {label:<24} executor {m.executor:6.2f} s{share}; steps (s): "
        f"{' / '.join(_seconds(d) for d in m.steps)}; pip: {m.downloaded} downloaded,"
        f" {m.cached} from its cache; Kaniko: {m.cached_layers} cached layer(s)",
        flush=True,
    )


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every variant")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as work:
        workdir = Path(work)
        stack = LocalStack(workdir, namespace="bench-rebuild")
        with stack, PackageIndex(wheels_dir()) as index:
            assert stack.registry is not None
            started = time.monotonic()
            base = push_python_base(make_python_layout(workdir / "python-base"), stack.registry)
            print(f"Python base pushed as {base} in {time.monotonic() - started:.1f} s")
            print(
                "steps: the Dockerfile's steps in order, as polymagic read them from Kaniko's"
                " log; the last two are RUN python3 -m venv and RUN pip install"
            )
            _secret(stack, index)
            results: dict[str, list[tuple[Measured, Measured]]] = {v.name: [] for v in VARIANTS}
            for round_ in range(1, args.repeat + 1):
                for v in VARIANTS:
                    slug = f"{v.name.replace('+', '-')}-{round_}"
                    cache = workdir / f"cache-{slug}"
                    cache.mkdir()
                    catalog = _catalog(stack, cache)
                    repository = f"bench/{slug}"
                    print(f"{v.name}, round {round_}:", flush=True)
                    cold = _build(stack, _operation(base, repository, PINNED, v), catalog, v)
                    _show(f"cold ({len(PINNED)} wheels)", cold)
                    op = _operation(base, repository, (*PINNED, ADDED), v)
                    warm = _build(stack, op, catalog, v)
                    _show(f"rebuild (+{ADDED.split('==')[0]})", warm, cold.executor)
                    results[v.name].append((cold, warm))
            print(f"medians over {args.repeat} round(s), executor time:")
            for v in VARIANTS:
                colds = _median([c.executor for c, _ in results[v.name]])
                warms = _median([w.executor for _, w in results[v.name]])
                ratio = _median([w.executor / c.executor for c, w in results[v.name]])
                verdict = ("MET" if ratio <= GOAL else "MISSED") if v.volume else "-"
                print(
                    f"  {v.name:<14} cold {colds:6.2f} s, rebuild {warms:6.2f} s,"
                    f" rebuild/cold {ratio:4.0%}  goal <= {GOAL:.0%}: {verdict}"
                )
            return 0


if __name__ == "__main__":
    sys.exit(main())
