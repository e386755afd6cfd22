"""The real-executor test stack outside pytest, for ``./.ci/quickstart --local`` and
``benchmarks/bench_real_build.py``.

:class:`LocalStack` starts what ``tests/real_executor`` runs on: the control plane (etcd,
kube-apiserver, kube-scheduler, kube-controller-manager), the node whose containers run for real
(the Kaniko executor under runc), Debian's docker-registry on loopback holding the busybox base
image, and a namespace; :meth:`LocalStack.stop` stops every one of them and removes what the
containers left. Everything lives in one work directory.

``python -m tests.real_executor.local_stack quickstart`` builds the quick-start operation with
``polymagic build`` on that stack, its base image swapped for the local one, prints the digest
and what the registry holds under the tag, and stops everything it started, also on Ctrl-C or
SIGTERM (processes it started die with it even on SIGKILL: they get a parent-death signal).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import yaml

from polymagic.spec.examples import QUICK_START
from tests.cluster.control_plane import ControlPlane, ensure_binaries
from tests.cluster.fixtures import _AdminApi, _wait_default_service_account
from tests.cluster.runc_runtime import ExecutorImage, RuncEngine
from tests.cluster.simulated_node import SimulatedNode
from tests.real_executor.base_image import BASE_REPOSITORY, BASE_TAG, make_base_layout, push_base
from tests.real_executor.registry_view import RegistryView
from tests.registry.server import RegistryMode, RegistryServer

__all__ = ["LocalStack", "main"]

NAMESPACE = "quickstart"
DESTINATION = "polyaxon/polyaxon-quick-start"


def _say(text: str) -> None:
    print(f"[quickstart] {text}", file=sys.stderr, flush=True)


class LocalStack:
    """Control plane, runc node, registry with the base image, and a namespace in ``workdir``."""

    def __init__(self, workdir: Path, *, namespace: str = NAMESPACE, log: bool = False) -> None:
        self.workdir = workdir
        self.namespace = namespace
        self.log = log
        self.plane: ControlPlane | None = None
        self.node: SimulatedNode | None = None
        self.engine: RuncEngine | None = None
        self.registry: RegistryServer | None = None
        self.base = ""

    def _step(self, text: str) -> None:
        if self.log:
            _say(text)

    def start(self) -> LocalStack:
        image = ExecutorImage.from_cache()  # ExecutorUnavailable says what is missing
        self._step("starting the control plane (etcd, apiserver, scheduler, controller-manager)")
        self.plane = ControlPlane(ensure_binaries(), self.workdir / "control-plane")
        self.plane.start()
        self._step("starting the node (the Kaniko executor runs under runc)")
        self.node = SimulatedNode(self.plane.admin_kubeconfig)
        self.node.start()
        self.engine = RuncEngine(image, self.workdir / "runc-bundles").start()
        self._step("starting the registry and pushing the base image")
        self.registry = RegistryServer(self.workdir / "registry", RegistryMode.HTTP).start()
        self.base = push_base(
            make_base_layout(self.workdir / "base-image"), self.registry, BASE_REPOSITORY, BASE_TAG
        )
        api = _AdminApi(self.plane)
        namespace: dict[str, object] = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": self.namespace},
        }
        api.call("POST", "/api/v1/namespaces", namespace)
        _wait_default_service_account(api, self.namespace)
        self.node.run_containers_with(self.namespace, self.engine)
        return self

    def stop(self) -> list[str]:
        """Stop everything (in reverse order); returns what the runtime found left behind."""
        left: list[str] = []
        if self.node is not None:
            self.node.run_containers_with(self.namespace, None)
            self.node.stop()
        if self.engine is not None:
            left = self.engine.close()
        if self.plane is not None:
            self.plane.stop()
        if self.registry is not None:
            self.registry.stop()
        self.node = self.engine = self.plane = self.registry = None
        return left

    def __enter__(self) -> LocalStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def kubeconfig(self) -> Path:
        assert self.plane is not None
        return self.plane.admin_kubeconfig

    def quick_start(self) -> dict[str, Any]:
        """The quick-start operation with its base image swapped for the local one."""
        op: dict[str, Any] = yaml.safe_load(QUICK_START)
        op["runPatch"]["init"][0]["dockerfile"]["image"] = self.base
        return op

    def connections(self) -> list[dict[str, Any]]:
        """The seed's `docker-connection`, pointing at the local registry (plain HTTP)."""
        assert self.registry is not None
        return [
            {
                "name": "docker-connection",
                "kind": "registry",
                "schema": {"url": self.registry.host, "insecure": True},
            }
        ]

    def write_inputs(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        op, catalog = directory / "quick-start.yaml", directory / "connections.yaml"
        op.write_text(yaml.safe_dump(self.quick_start(), sort_keys=False))
        catalog.write_text(yaml.safe_dump(self.connections()))
        return op, catalog

    def build_argv(self, op: Path, catalog: Path, *extra: str) -> list[str]:
        polymagic = Path(sys.executable).with_name("polymagic")
        command = [str(polymagic)] if polymagic.exists() else [sys.executable, "-m", "polymagic"]
        return [
            *command,
            "build",
            str(op),
            "--connections",
            str(catalog),
            "--namespace",
            self.namespace,
            *extra,
        ]

    def build_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POLYMAGIC_")}
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _show_inspect(stack: LocalStack, image: str) -> None:
    """``polymagic inspect IMAGE``'s lines: the annotations, the SBOM and the provenance."""
    argv = stack.build_argv(Path("unused"), Path("unused"))
    polymagic = argv[: argv.index("build")]
    done = subprocess.run(
        [*polymagic, "inspect", image, "--insecure"],
        env=stack.build_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for line in (done.stdout + done.stderr).splitlines():
        _say("  " + line)


def quickstart(workdir: Path) -> int:
    """Build the quick start on a local stack in ``workdir``; 0 when the registry confirms."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    stack = LocalStack(workdir, log=True)
    try:
        with stack:
            assert stack.registry is not None
            op, catalog = stack.write_inputs(workdir / "inputs")
            _say(f"building {op.name} (FROM {stack.base}) with `polymagic build`")
            started = time.monotonic()
            done = subprocess.run(
                stack.build_argv(op, catalog),
                env=stack.build_env(),
                stdout=subprocess.PIPE,
                text=True,
                check=False,
            )
            lines = done.stdout.strip().splitlines()
            if done.returncode != 0 or not lines:
                _say(f"`polymagic build` failed (exit {done.returncode})")
                return done.returncode or 1
            image = lines[-1]
            digest = image.rsplit("@", 1)[-1]
            held = RegistryView(stack.registry).digest(DESTINATION, "latest")
            _say(f"built in {time.monotonic() - started:.1f}s")
            _say(f"the registry holds {stack.registry.host}/{DESTINATION}:latest -> {held}")
            if held != digest:
                _say(f"it does not match the digest polymagic reported ({digest})")
                return 1
            _say("it matches the digest polymagic reported; what `polymagic inspect` reads back:")
            _show_inspect(stack, f"{stack.registry.host}/{DESTINATION}:latest")
            _say("stopping everything")
            print(image, flush=True)
            return 0
    except KeyboardInterrupt:
        _say("interrupted: everything started here was stopped")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.real_executor.local_stack")
    parser.add_argument("command", choices=["quickstart"])
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where everything lives (default: a temporary directory, removed afterwards)",
    )
    args = parser.parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return quickstart(args.workdir)
    workdir = Path(tempfile.mkdtemp(prefix="polymagic-quickstart-"))
    try:
        return quickstart(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
