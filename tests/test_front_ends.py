"""One workflow for both front ends: the same operation through ``polymagic build`` and
``%%polybuild``, dry and real, with a kubeconfig whose context names a namespace, shows and
creates the same things (the namespace, the executor image, the catalog, the Pod).

The dry runs need no cluster (the kubeconfig is read, not used to log in); the real builds run
against the test cluster and its simulated node."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from polymagic.kube.client import connect
from tests.cluster.simulated_node import SimulatedNode
from tests.data import SEED
from tests.notebook.shell import new_shell
from tests.test_build_cluster import CATALOG, _leftovers, _secret

NAMESPACE = "ml-team"


def _kubeconfig(path: Path, namespace: str, base: dict[str, Any] | None = None) -> Path:
    """A kubeconfig whose current context names ``namespace`` (``base``'s server and user, or
    an address nothing answers on, for dry runs)."""
    config = base or {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "team", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "team",
    }
    for context in config["contexts"]:
        context["context"]["namespace"] = namespace
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The operation and its catalog in a folder of their own, nothing set from outside."""
    for name in list(os.environ):
        if name.startswith(("POLYMAGIC_", "KUBE")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "op.yaml").write_text(SEED)
    (tmp_path / "connections.yaml").write_text(yaml.safe_dump(CATALOG))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _cli(workspace: Path, kubeconfig: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "polymagic",
            "build",
            str(workspace / "op.yaml"),
            "--connections",
            str(workspace / "connections.yaml"),
            *extra,
        ],
        env=env,
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def shell(workspace: Path) -> Iterator[InteractiveShell]:
    ip = new_shell()
    ip.run_line_magic("load_ext", "polymagic")
    yield ip
    ip.run_line_magic("unload_ext", "polymagic")
    InteractiveShell.clear_instance()


def _magic(
    shell: InteractiveShell, workspace: Path, line: str = ""
) -> tuple[Any, list[dict[str, Any]]]:
    cell = f"%%polybuild --connections {workspace / 'connections.yaml'} {line}\n{SEED}"
    with capture_output() as captured:
        result = shell.run_cell(cell)
    return result, [o.data for o in captured.outputs]


def _documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def _plan_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("namespace:", "executor"))]


def test_dry_runs_show_the_kubeconfig_contexts_namespace_in_both_front_ends(
    workspace: Path, shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = _kubeconfig(workspace / "kubeconfig", NAMESPACE)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    done = _cli(workspace, kubeconfig, "--dry-run")
    assert done.returncode == 0, done.stderr
    cli_objects = _documents(done.stdout.split("# ---- Kubernetes objects ----\n")[1])
    cli_plan = _plan_lines(done.stderr.replace("polymagic: ", ""))

    result, outputs = _magic(shell, workspace, "--dry-run --show manifests")
    assert result.success, result.error_in_exec
    texts = [o["text/plain"] for o in outputs]
    magic_objects = _documents(next(t for t in texts if "kind: Pod" in t))
    magic_plan = _plan_lines(texts[0])

    assert {d["metadata"]["namespace"] for d in cli_objects} == {NAMESPACE}
    assert magic_objects == cli_objects
    assert magic_plan == cli_plan
    assert cli_plan[0] == (
        f"namespace: {NAMESPACE} (from the context `team` of kubeconfig {kubeconfig})"
    )
    assert cli_plan[1].startswith("executor image: ghcr.io/osscontainertools/kaniko:v1.28.3")


def test_an_option_or_setting_wins_over_the_context_in_both_front_ends(
    workspace: Path, shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = _kubeconfig(workspace / "kubeconfig", NAMESPACE)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    done = _cli(workspace, kubeconfig, "--dry-run", "--namespace", "other")
    assert "polymagic: namespace: other (from option --namespace)" in done.stderr
    shell.run_line_magic("config", "PolyBuildMagics.namespace = 'mine'")
    _, outputs = _magic(shell, workspace, "--dry-run --show none")
    assert outputs[0]["text/plain"].splitlines()[0] == (
        "namespace: mine (from %config PolyBuildMagics.namespace)"
    )


def test_without_a_cluster_both_front_ends_say_default_and_why(
    workspace: Path, shell: InteractiveShell
) -> None:
    done = _cli(workspace, workspace / "missing-kubeconfig")
    assert done.returncode == 3
    line = "namespace: default (from polymagic's default: no cluster is configured)"
    assert f"polymagic: {line}" in done.stderr
    result, outputs = _magic(shell, workspace)
    assert not result.success  # no cluster to submit to
    assert outputs[0]["text/plain"].splitlines()[0] == line


@pytest.mark.cluster
def test_real_builds_from_both_front_ends_go_to_the_contexts_namespace_alike(
    workspace: Path,
    shell: InteractiveShell,
    admin_kubeconfig: Path,
    namespace: str,
    sim_node: SimulatedNode,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster = connect(admin_kubeconfig, namespace=namespace)
    _secret(cluster)
    base = yaml.safe_load(admin_kubeconfig.read_text())
    kubeconfig = _kubeconfig(workspace / "kubeconfig", namespace, base)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    try:
        done = _cli(workspace, kubeconfig, "--stuck-grace", "3")
        assert done.returncode == 0, done.stderr
        assert f"in namespace `{namespace}`" in done.stderr
        from_cli = sim_node.seen_pods[-1]

        result, _ = _magic(shell, workspace, "--show none --stuck-grace 3 --force")
        assert result.success, result.error_in_exec
        from_magic = sim_node.seen_pods[-1]
        assert from_magic.uid != from_cli.uid
        for seen in (from_cli, from_magic):
            assert seen.namespace == namespace
        cli_container = from_cli.pod["spec"]["containers"][0]
        magic_container = from_magic.pod["spec"]["containers"][0]
        assert magic_container["image"] == cli_container["image"]
        assert magic_container["args"] == cli_container["args"]
        assert magic_container["volumeMounts"] == cli_container["volumeMounts"]
        assert _leftovers(cluster) == []
    finally:
        cluster.close()
