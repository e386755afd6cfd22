"""Pytest fixtures for tests against the real test cluster.

The root ``tests/conftest.py`` registers this module as a plugin (``pytest_plugins``), so every
test directory has them.

- ``control_plane`` (session): a running :class:`ControlPlane`; the binaries are
  built by ``.ci/cluster-binaries.sh`` first if they are not cached yet;
- ``sim_node`` (session): a running :class:`SimulatedNode` (the only kubelet);
- ``namespace`` (function): a fresh namespace whose ``default`` ServiceAccount
  has its token, deleted afterwards;
- ``admin_kubeconfig`` / ``user_kubeconfig``: kubeconfig paths of the admin
  (``system:masters``) and of ``alice`` (authenticated, no RBAC rights).

Processes live in pytest's temporary directory (``<basetemp>/control-plane*``),
so their logs survive a failed run for diagnosis.
"""

from __future__ import annotations

import json
import re
import secrets
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.control_plane import ControlPlane, ensure_binaries
from tests.cluster.simulated_node import SimulatedNode

__all__ = ["admin_kubeconfig", "control_plane", "namespace", "sim_node", "user_kubeconfig"]


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-scheduler + kube-controller-manager for the whole session."""
    plane = ControlPlane(ensure_binaries(), tmp_path_factory.mktemp("control-plane"))
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def sim_node(control_plane: ControlPlane) -> Iterator[SimulatedNode]:
    """The simulated kubelet, registered as a Ready Node, using the admin kubeconfig."""
    node = SimulatedNode(control_plane.admin_kubeconfig)
    try:
        node.start()
        yield node
    finally:
        node.stop()


@pytest.fixture
def admin_kubeconfig(control_plane: ControlPlane) -> Path:
    return control_plane.admin_kubeconfig


@pytest.fixture
def user_kubeconfig(control_plane: ControlPlane) -> Path:
    return control_plane.user_kubeconfig


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, ready for pods; deleted (not awaited) afterwards."""
    name = _namespace_name(request.node.name)
    api = _AdminApi(control_plane)
    api.call(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    try:
        _wait_default_service_account(api, name)
        yield name
    finally:
        api.call("DELETE", f"/api/v1/namespaces/{name}", allow=(404, 409))


def _namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].strip("-") or "test"
    return f"t-{slug}-{secrets.token_hex(3)}"


def _wait_default_service_account(api: _AdminApi, namespace: str, timeout: float = 30.0) -> None:
    """Pod creation fails until the ServiceAccount admission finds ``default`` and its token (1.20)."""
    deadline = time.monotonic() + timeout
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/default"
    while time.monotonic() < deadline:
        account = api.call("GET", path, allow=(404,))
        if account and account.get("secrets"):
            return
        time.sleep(0.1)
    raise TimeoutError(
        f"no token for the default ServiceAccount of {namespace} after {timeout:.0f}s"
    )


class _AdminApi:
    """Just enough JSON-over-HTTPS to manage namespaces (no client library needed)."""

    def __init__(self, plane: ControlPlane) -> None:
        self._plane = plane
        self._context = ssl.create_default_context(cafile=str(plane.ca_file))

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, object] | None = None,
        allow: tuple[int, ...] = (),
    ) -> dict[str, object] | None:
        request = urllib.request.Request(
            self._plane.server_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self._plane.admin.token}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10, context=self._context) as response:
                answer: dict[str, object] = json.loads(response.read() or b"{}")
                return answer
        except urllib.error.HTTPError as error:
            if error.code in allow:
                return None
            raise
