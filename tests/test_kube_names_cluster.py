"""polymagic's naming checks agree with the real API server's validation (server-side dry run).

For every case: polymagic's check refuses it exactly when the API server would answer 422, so the
one-line message replaces the 422 and never refuses what Kubernetes takes.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Any

import pytest
import yaml

from polymagic.errors import SpecError
from polymagic.render.compiler import compile_operation
from polymagic.render.kube_names import check_annotations, check_labels, check_namespace
from polymagic.render.manifests import build_manifests
from polymagic.spec.loader import load_connections
from tests.cluster.control_plane import ControlPlane
from tests.cluster.fixtures import _AdminApi
from tests.data import REGISTRY, SEED

pytestmark = pytest.mark.cluster

LABEL_CASES: list[dict[str, str]] = [
    {"team": "x" * 63},
    {"team": "x" * 64},
    {"team": ""},
    {"team": "data science"},
    {"team": "-ml"},
    {"team": "ml_"},
    {"team": "a.b-c_d"},
    {"a b": "x"},
    {"k" * 63: "x"},
    {"k" * 64: "x"},
    {"Example.COM/team": "x"},
    {"example.com/team": "x"},
    {"/team": "x"},
    {"example.com/": "x"},
    {"a/b/c": "x"},
    {("d" * 60 + ".") * 4 + "com/k": "x"},
    {"team": "ü"},
]
ANNOTATION_CASES: list[dict[str, str]] = [
    {"note": "any text at all: spaces, ü, newlines\n"},
    {"no spaces": "x"},
    {"note": "x" * (256 * 1024 - 4)},
    {"note": "x" * (256 * 1024)},
]
NAMESPACE_CASES = ["ml", "ML", "ml_team", "-ml", "ml-", "a" * 63, "a" * 64, "ml.team", "1ml"]


def _accepted(api: _AdminApi, path: str, body: dict[str, Any]) -> bool:
    try:
        api.call("POST", f"{path}?dryRun=All", body)
    except urllib.error.HTTPError as error:
        if error.code != 422:
            raise
        return False
    return True


def _pod(labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "labels": labels, "annotations": annotations},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def _refused(check: Any, *args: Any) -> bool:
    try:
        check(*args)
    except SpecError:
        return True
    return False


@pytest.fixture
def api(control_plane: ControlPlane, namespace: str) -> _AdminApi:
    return _AdminApi(control_plane)


@pytest.mark.parametrize("labels", LABEL_CASES, ids=lambda c: repr(c)[:40])
def test_label_rules_match_the_api_server(api: _AdminApi, namespace: str, labels: Any) -> None:
    server = _accepted(api, f"/api/v1/namespaces/{namespace}/pods", _pod(labels, {}))
    assert server == (not _refused(check_labels, labels, "environment.labels"))


@pytest.mark.parametrize("annotations", ANNOTATION_CASES, ids=lambda c: repr(c)[:40])
def test_annotation_rules_match_the_api_server(
    api: _AdminApi, namespace: str, annotations: Any
) -> None:
    server = _accepted(api, f"/api/v1/namespaces/{namespace}/pods", _pod({}, annotations))
    assert server == (not _refused(check_annotations, annotations, "environment.annotations"))


@pytest.mark.parametrize("name", NAMESPACE_CASES)
def test_namespace_rules_match_the_api_server(api: _AdminApi, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    assert _accepted(api, "/api/v1/namespaces", body) == (not _refused(check_namespace, name))


@pytest.mark.parametrize(
    "filename",
    [
        *("Dockerfile", "Dockerfile.gpu", "Docker file", "ü.Dockerfile", "-x", "a:b", "a\tb"),
        *(".hidden", "d" * 200, "d" * 300, "d" * 5000),
    ],
)
def test_every_dockerfile_name_polymagic_accepts_the_api_server_accepts(
    api: _AdminApi, namespace: str, filename: str, tmp_path: Path
) -> None:
    op = yaml.safe_load(SEED)
    op["runPatch"]["init"][0]["dockerfile"]["filename"] = filename
    build = compile_operation(op, connections=load_connections(REGISTRY))
    try:
        manifests = build_manifests(build, namespace=namespace)
    except SpecError as exc:
        refused: SpecError | None = exc
    else:
        refused = None
    if refused is not None:
        assert "filename" in str(refused.path)
        return
    for kind, obj in (("configmaps", manifests.config_map), ("pods", manifests.pod)):
        assert _accepted(api, f"/api/v1/namespaces/{namespace}/{kind}", obj), kind
