"""Least privilege, for real: the Role that `polymagic rbac` prints is enough to build, and every
permission in it is needed (the preflight names the one that is missing)."""

from __future__ import annotations

import base64
import io
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from polymagic.cli.main import main
from polymagic.errors import PreflightError, SpecError
from polymagic.kube.client import Cluster, connect
from polymagic.kube.session import build_image, start_build
from polymagic.render.permissions import PERMISSIONS, Permission, rbac_objects
from tests.cluster.admin import wait_for_authorizer, wait_until_builds_allowed
from tests.cluster.control_plane import ControlPlane, TokenUser, write_kubeconfig
from tests.cluster.fixtures import _AdminApi
from tests.cluster.simulated_node import SimulatedNode
from tests.test_build_cluster import CATALOG, FAST, _build, _leftovers, _secret

pytestmark = pytest.mark.cluster

RBAC = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/{kind}"


@pytest.fixture
def admin(admin_kubeconfig: Path, namespace: str, sim_node: SimulatedNode) -> Iterator[Cluster]:
    connected = connect(admin_kubeconfig, namespace=namespace)
    yield connected
    connected.close()


@pytest.fixture
def api(control_plane: ControlPlane) -> _AdminApi:
    return _AdminApi(control_plane)


def _call(admin: _AdminApi, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return admin.call(method, path, body)


def _printed_objects(namespace: str, catalog: Path) -> list[dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["rbac", "--namespace", namespace, "--service-account", "builder", "--connections",
         str(catalog)],
        out=out,
        err=err,
    )  # fmt: skip
    assert code == 0, err.getvalue()
    return [d for d in yaml.safe_load_all(out.getvalue()) if d]


def _service_account_kubeconfig(
    api: _AdminApi, namespace: str, control_plane: ControlPlane, tmp_path: Path
) -> Path:
    _call(api, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts",
          {"metadata": {"name": "builder"}})  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        account = _call(api, "GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/builder")
        if account.get("secrets"):
            break
        time.sleep(0.2)
    secret_name = account["secrets"][0]["name"]
    secret = _call(api, "GET", f"/api/v1/namespaces/{namespace}/secrets/{secret_name}")
    token = base64.b64decode(secret["data"]["token"]).decode()
    path = tmp_path / "builder.kubeconfig"
    write_kubeconfig(path, control_plane.server_url, control_plane.ca_file, TokenUser("sa", token))
    return path


def test_the_printed_role_is_enough_and_every_verb_in_it_is_needed(
    admin: Cluster, api: _AdminApi, control_plane: ControlPlane, tmp_path: Path
) -> None:
    namespace = admin.namespace
    catalog = tmp_path / "connections.yaml"
    catalog.write_text(yaml.safe_dump(CATALOG))
    role, binding = _printed_objects(namespace, catalog)
    assert (role["kind"], binding["kind"]) == ("Role", "RoleBinding")
    assert {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["regcred"],
            "verbs": ["get"]} in role["rules"]  # fmt: skip
    _call(api, "POST", RBAC.format(ns=namespace, kind="roles"), role)
    _call(api, "POST", RBAC.format(ns=namespace, kind="rolebindings"), binding)
    _secret(admin)
    kubeconfig = _service_account_kubeconfig(api, namespace, control_plane, tmp_path)

    builder = connect(kubeconfig, namespace=namespace)
    try:
        wait_until_builds_allowed(builder)
        assert "@sha256:" in build_image(builder, _build(), FAST).image
        assert _leftovers(admin) == []
        # Now take away one verb at a time: the preflight must name it, and create nothing.
        for permission in PERMISSIONS:
            for verb in permission.verbs:
                reduced = yaml.safe_load(yaml.safe_dump(role))
                for rule in reduced["rules"]:
                    if rule["resources"] == [permission.rule_resource]:
                        rule["verbs"] = [v for v in rule["verbs"] if v != verb]
                reduced["rules"] = [r for r in reduced["rules"] if r["verbs"]]
                path = RBAC.format(ns=namespace, kind="roles") + "/" + role["metadata"]["name"]
                _call(api, "PUT", path, reduced)
                _wait_until_refused(builder, verb, permission)
                wanted = f"missing permission to {verb} {permission.rule_resource}"
                with pytest.raises(PreflightError, match=wanted):
                    start_build(builder, _build(), FAST)
                assert _leftovers(admin) == []
                _call(api, "PUT", path, role)
    finally:
        builder.close()


def _wait_until_refused(builder: Cluster, verb: str, permission: Permission) -> None:
    check = (verb, permission.resource, permission.subresource)
    wait_for_authorizer(builder, [check], allowed=False, timeout=10)


OBJECT_NAME_CASES = ["regcred", "a.b-1", "", "*", "x y", "Regcred", "-a", "a-", "a/b", "a" * 253]
OBJECT_NAME_CASES += ["a" * 254, "a..b", "ü"]


@pytest.mark.parametrize("name", OBJECT_NAME_CASES, ids=[repr(n)[:20] for n in OBJECT_NAME_CASES])
def test_rbac_refuses_exactly_the_names_the_api_server_refuses(
    api: _AdminApi, namespace: str, name: str
) -> None:
    def taken(kind: str, body: dict[str, Any]) -> bool:
        try:
            api.call("POST", f"/api/v1/namespaces/{namespace}/{kind}?dryRun=All", body)
        except urllib.error.HTTPError as error:
            if error.code not in (400, 422):  # an empty name in the body is a 400
                raise
            return False
        return True

    body = {"metadata": {"name": name}}
    secret_taken = taken("secrets", {**body, "type": "Opaque"})
    account_taken = taken("serviceaccounts", body)
    assert secret_taken == account_taken
    try:
        rbac_objects(namespace, name, [name])
    except SpecError:
        ours = False
    else:
        ours = True
    assert ours == secret_taken
