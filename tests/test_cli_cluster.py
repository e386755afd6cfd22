"""The command line's contract against the real cluster: exit codes, stdout, stderr, signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from polymagic.kube.client import connect
from tests.cluster.simulated_node import Scenario, SimulatedNode
from tests.data import SEED
from tests.test_build_cluster import CATALOG, _leftovers, _secret

pytestmark = pytest.mark.cluster
REFERENCE = re.compile(
    r"^registry\.example\.com/org/polyaxon/polyaxon-quick-start@sha256:[0-9a-f]{64}$"
)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "op.yaml").write_text(SEED)
    (tmp_path / "connections.yaml").write_text(yaml.safe_dump(CATALOG))
    return tmp_path / "op.yaml", tmp_path / "connections.yaml"


def _env(kubeconfig: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYMAGIC_")}
    env["KUBECONFIG"] = str(kubeconfig)
    return env


def _polymagic(
    kubeconfig: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polymagic", *args],
        env=_env(kubeconfig),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _start(
    files: tuple[Path, Path], kubeconfig: Path, namespace: str, *extra: str
) -> subprocess.Popen[str]:
    """`polymagic build` in the background, once it has reported step 3/6 on stderr."""
    op, catalog = files
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "polymagic",
            "build",
            str(op),
            "--connections",
            str(catalog),
            "--namespace",
            namespace,
            *extra,
        ],
        env=_env(kubeconfig),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "step 3/6" in line:
            break
    return process


def _build_cli(
    files: tuple[Path, Path], kubeconfig: Path, namespace: str, *extra: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`polymagic build` of the seed with the test catalog, in ``namespace``, to its end."""
    op, catalog = files
    return _polymagic(
        kubeconfig,
        "build",
        str(op),
        "--connections",
        str(catalog),
        "--namespace",
        namespace,
        *extra,
        timeout=timeout,
    )


def _assert_clean(kubeconfig: Path, namespace: str) -> None:
    cluster = connect(kubeconfig, namespace=namespace)
    try:
        assert _leftovers(cluster) == []
    finally:
        cluster.close()


@pytest.fixture
def with_secret(admin_kubeconfig: Path, namespace: str, sim_node: SimulatedNode) -> str:
    cluster = connect(admin_kubeconfig, namespace=namespace)
    _secret(cluster)
    cluster.close()
    return namespace


def test_build_prints_the_pushed_reference_last(
    files: tuple[Path, Path], admin_kubeconfig: Path, with_secret: str, sim_node: SimulatedNode
) -> None:
    done = _build_cli(files, admin_kubeconfig, with_secret)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert REFERENCE.match(last), done.stdout
    pod = sim_node.seen_pods[-1]
    assert last.endswith(pod.digest or "missing")
    assert "step 6/6: RUN pip3 install --no-cache-dir -U polyaxon" in done.stderr
    assert "\x1b[" not in done.stderr
    _assert_clean(admin_kubeconfig, with_secret)


def test_run_failure_exit_code_and_reason(
    files: tuple[Path, Path], admin_kubeconfig: Path, with_secret: str, sim_node: SimulatedNode
) -> None:
    sim_node.set_scenario(with_secret, Scenario.RUN_FAILS)
    done = _build_cli(files, admin_kubeconfig, with_secret, "--quiet")
    assert done.returncode == 1
    assert "exited with code 3" in done.stderr  # the RUN's; the CLI exits 1
    assert "error building image" in done.stderr
    assert "@sha256:" not in done.stdout
    _assert_clean(admin_kubeconfig, with_secret)


def test_missing_secret_names_the_secret(
    files: tuple[Path, Path], admin_kubeconfig: Path, namespace: str, sim_node: SimulatedNode
) -> None:
    done = _build_cli(files, admin_kubeconfig, namespace)
    assert done.returncode == 1
    assert "secret `regcred` not found in namespace" in done.stderr
    _assert_clean(admin_kubeconfig, namespace)


def test_image_pull_backoff_fails_within_a_minute_by_default(
    files: tuple[Path, Path], admin_kubeconfig: Path, with_secret: str, sim_node: SimulatedNode
) -> None:
    sim_node.set_scenario(with_secret, Scenario.IMAGE_PULL_FAILS)
    started = time.monotonic()
    done = _build_cli(files, admin_kubeconfig, with_secret, timeout=90)
    assert time.monotonic() - started < 60
    assert done.returncode == 1
    assert re.search("ErrImagePull|ImagePullBackOff", done.stderr)
    assert "ghcr.io/osscontainertools/kaniko:v1.28.3" in done.stderr
    _assert_clean(admin_kubeconfig, with_secret)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_cancels_and_cleans_up(
    files: tuple[Path, Path],
    admin_kubeconfig: Path,
    with_secret: str,
    sim_node: SimulatedNode,
    signum: int,
) -> None:
    sim_node.set_scenario(with_secret, Scenario.SUCCESS, hold_running=True)
    process = _start(files, admin_kubeconfig, with_secret)
    process.send_signal(signum)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "cancelled" in rest
    _assert_clean(admin_kubeconfig, with_secret)


def test_status_list_logs_cancel_by_name(
    files: tuple[Path, Path], admin_kubeconfig: Path, with_secret: str, sim_node: SimulatedNode
) -> None:
    sim_node.set_scenario(with_secret, Scenario.SUCCESS, hold_running=True)
    process = _start(files, admin_kubeconfig, with_secret, "--keep")
    listing = _polymagic(admin_kubeconfig, "list", "--namespace", with_secret)
    assert listing.returncode == 0
    name = listing.stdout.splitlines()[1].split()[1]
    status = _polymagic(admin_kubeconfig, "status", name, "--namespace", with_secret)
    assert "phase:        Running" in status.stdout
    logs = _polymagic(admin_kubeconfig, "logs", name, "--namespace", with_secret)
    assert "Retrieving image manifest tensorflow/tensorflow:2.0.1-py3" in logs.stdout
    assert "\x1b[" not in logs.stdout
    cancel = _polymagic(admin_kubeconfig, "cancel", name, "--namespace", with_secret)
    assert cancel.returncode == 0
    process.communicate(timeout=60)
    assert process.returncode != 0
    again = _polymagic(admin_kubeconfig, "cancel", name, "--namespace", with_secret)
    assert again.returncode == 1
    assert "no build named" in again.stderr


def test_list_without_builds_says_so_in_one_line(admin_kubeconfig: Path, with_secret: str) -> None:
    listing = _polymagic(admin_kubeconfig, "list", "--namespace", with_secret)
    assert listing.returncode == 0
    assert listing.stdout == (
        f"no polymagic builds in namespace `{with_secret}`: finished builds are deleted with"
        " their pods unless built with --keep\n"
    )


def test_without_a_cluster_build_shows_what_it_would_submit(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    op, catalog = files
    env = {
        k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")
    }
    env["HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "polymagic", "build", str(op), "--connections", str(catalog)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert "kind: Pod" in done.stdout
    assert "# ---- Dockerfile:" in done.stdout
    assert "set KUBECONFIG" in done.stderr


def test_build_goes_to_the_kubeconfig_contexts_namespace(
    files: tuple[Path, Path],
    admin_kubeconfig: Path,
    with_secret: str,
    sim_node: SimulatedNode,
    tmp_path: Path,
) -> None:
    """No --namespace: the build runs in the context's namespace, as the README says (it went
    to `default` before, because the option had a default of its own)."""
    config = yaml.safe_load(admin_kubeconfig.read_text())
    for context in config["contexts"]:
        context["context"]["namespace"] = with_secret
    kubeconfig = tmp_path / "kubeconfig-with-namespace"
    kubeconfig.write_text(yaml.safe_dump(config))
    op, catalog = files
    done = _polymagic(kubeconfig, "build", str(op), "--connections", str(catalog))
    assert done.returncode == 0, done.stderr
    assert f"in namespace `{with_secret}`" in done.stderr
    pod = sim_node.seen_pods[-1]
    assert pod.namespace == with_secret
    dry = _polymagic(kubeconfig, "build", str(op), "--connections", str(catalog), "--dry-run")
    objects = dry.stdout.split("# ---- Kubernetes objects ----\n")[1]
    documents = [d for d in yaml.safe_load_all(objects) if d]
    assert {d["metadata"]["namespace"] for d in documents} == {with_secret}
    _assert_clean(kubeconfig, with_secret)


def test_build_refuses_a_destination_without_a_known_connection(
    files: tuple[Path, Path],
    admin_kubeconfig: Path,
    with_secret: str,
    sim_node: SimulatedNode,
    tmp_path: Path,
) -> None:
    """No catalog at all: render warns, but build must not push unauthenticated to Docker Hub."""
    op, _ = files
    seen = len(sim_node.seen_pods)
    env = {**_env(admin_kubeconfig), "XDG_CONFIG_HOME": str(tmp_path / "empty-config")}
    done = subprocess.run(
        [sys.executable, "-m", "polymagic", "build", str(op), "--namespace", with_secret],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "goes through connection `docker-connection`, which no connections catalog defines" in (
        done.stderr
    )
    assert "nothing was submitted" in done.stderr
    assert len(sim_node.seen_pods) == seen
    _assert_clean(admin_kubeconfig, with_secret)
