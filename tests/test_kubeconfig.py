"""The kubeconfig read without logging in (``polymagic.kube.kubeconfig``) names the namespace
the Kubernetes client itself picks (``kube.client.connect``), for the shapes kubeconfigs take:
so a dry run shows where the real build goes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from polymagic.errors import ClusterConfigError
from polymagic.kube.client import connect
from polymagic.kube.kubeconfig import find_cluster_target


def _config(contexts: dict[str, str | None], current: str | None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {
                "name": name,
                "context": {"cluster": "c", "user": "u", **({"namespace": ns} if ns else {})},
            }
            for name, ns in contexts.items()
        ],
        **({"current-context": current} if current else {}),
    }


CASES = {
    "context-namespace": ([_config({"a": "ml-team"}, "a")], None),
    "no-namespace": ([_config({"a": None}, "a")], None),
    "named-context": ([_config({"a": "one", "b": "two"}, "a")], "b"),
    # $KUBECONFIG with two files: the current context from the first, its entry in the second.
    "merged": (
        [
            {"apiVersion": "v1", "kind": "Config", "current-context": "b"},
            _config({"a": "one", "b": "two"}, None),
        ],
        None,
    ),
    # The first file that defines a context wins when both do.
    "first-wins": ([_config({"a": "first"}, "a"), _config({"a": "second"}, "a")], None),
}


@pytest.mark.parametrize(("files", "context"), CASES.values(), ids=CASES.keys())
def test_the_namespace_is_the_one_the_client_picks(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: list[dict[str, Any]],
    context: str | None,
) -> None:
    paths = []
    for index, data in enumerate(files):
        path = tmp_path / f"config-{index}"
        path.write_text(yaml.safe_dump(data))
        paths.append(str(path))
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(paths))
    target = find_cluster_target(context=context)
    cluster = connect(context=context)
    try:
        assert target.namespace == cluster.namespace
        assert target.source == cluster.source
    finally:
        cluster.close()


def test_no_configuration_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ClusterConfigError, match="no Kubernetes cluster is configured: set KUBE"):
        find_cluster_target()


def test_in_a_pod_the_service_accounts_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    (tmp_path / "namespace").write_text("notebooks\n")
    target = find_cluster_target(service_account_dir=tmp_path)
    assert (target.source, target.namespace) == ("in-cluster service account", "notebooks")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a list\n", "it is not a YAML mapping"),
        ("a: [\n", "cannot use the kubeconfig .*config"),
        ("a: &x [*x]\n", "cannot use the kubeconfig"),
    ],
    ids=["list", "syntax", "alias"],
)
def test_a_broken_kubeconfig_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    monkeypatch.setenv("KUBECONFIG", str(path))
    with pytest.raises(ClusterConfigError, match=message):
        find_cluster_target()
