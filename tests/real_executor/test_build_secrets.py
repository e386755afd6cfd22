"""Build secrets with the real executor: a RUN step reads a token from a Kubernetes Secret that a
connection mounts (``RUN --mount=type=secret,id=token``) and uses it against a server that answers
only with that token; the build succeeds, and the token is found nowhere polymagic wrote or the
registry holds (the image's config and every layer, the ConfigMap, the pod, the executor's log).
Without the connection the build is refused before anything is created."""

from __future__ import annotations

import base64
import http.server
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from polymagic.errors import SpecError
from polymagic.kube.client import connect
from polymagic.kube.session import BuildOptions, build_image
from polymagic.render.compiler import compile_operation
from polymagic.spec.loader import load_connections
from tests.cluster import admin
from tests.cluster.simulated_node import SimulatedNode
from tests.real_executor.helpers import catalog, leftovers, op_running
from tests.real_executor.registry_view import RegistryView
from tests.registry.server import RegistryServer

DESTINATION = "secrets/app"


class _Index(http.server.BaseHTTPRequestHandler):
    """A package index stand-in: 200 and a small body for the right bearer token, else 401."""

    token = ""
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        said = self.headers.get("Authorization", "")
        self.asked.append("token" if said == f"Bearer {self.token}" else "other")
        good = said == f"Bearer {self.token}"
        body = b"team-package 1.0\n" if good else b"unauthorized\n"
        self.send_response(200 if good else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def index() -> Iterator[tuple[str, str, type[_Index]]]:
    """(the index's URL on loopback, the token it wants, its handler with what it was asked)."""
    token = secrets.token_hex(24)
    handler: type[_Index] = type("Handler", (_Index,), {"token": token, "asked": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/team-package/", token, handler
    finally:
        server.shutdown()
        server.server_close()


def _token_secret(kubeconfig: Path, namespace: str, token: str) -> None:
    admin.core(kubeconfig).create_namespaced_secret(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "index-token"},
            "type": "Opaque",
            "data": {"token": base64.b64encode(token.encode()).decode()},
        },
    )


def _operation(registry: RegistryServer, url: str, with_connection: bool) -> dict[str, Any]:
    run = (
        "--mount=type=secret,id=token,target=/run/secrets/token"
        f' wget -q -O /index.txt --header "Authorization: Bearer $(cat /run/secrets/token)" {url}'
    )
    op = op_running(registry, DESTINATION, [run])
    if with_connection:
        op["runPatch"]["connections"] = ["token"]
    return op


def _build(kubeconfig: Path, namespace: str, op: dict[str, Any], registry: RegistryServer) -> Any:
    """``op`` built from Python with the registry's connection and the token's."""
    build = compile_operation(op, connections=load_connections(_catalog(registry)))
    cluster = connect(kubeconfig, namespace=namespace)
    try:
        return build_image(cluster, build, BuildOptions(namespace=namespace, timeout=300))
    finally:
        cluster.close()


def _catalog(registry: RegistryServer) -> list[dict[str, Any]]:
    token = {
        "name": "token",
        "kind": "custom",
        "secret": {"name": "index-token", "mountPath": "/secrets/token", "items": ["token"]},
    }
    return [*catalog(registry), token]


def test_a_secret_mount_reaches_the_step_and_nothing_else(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    sim_node: SimulatedNode,
    index: tuple[str, str, type[_Index]],
) -> None:
    url, token, handler = index
    _token_secret(admin_kubeconfig, real_namespace, token)
    op = _operation(plain_registry, url, with_connection=True)
    result = _build(admin_kubeconfig, real_namespace, op, plain_registry)

    # The step got the token: the index answered it, and what it gave is in the image.
    image = RegistryView(plain_registry).image(DESTINATION, result.digest)
    files = image.all_files()
    assert files["index.txt"] == b"team-package 1.0\n"
    assert handler.asked == ["token"]

    # The token is nowhere: the image's config and layers, the objects polymagic made, the log.
    needle = token.encode()
    view = RegistryView(plain_registry)
    blobs = [json.dumps(image.config).encode(), json.dumps(image.manifest).encode()]
    blobs += [view.blob(DESTINATION, layer["digest"]) for layer in image.manifest["layers"]]
    assert not any(needle in blob for blob in blobs)
    (seen,) = [p for p in sim_node.seen_pods if p.namespace == real_namespace]
    assert token not in json.dumps(seen.pod)
    assert token not in json.dumps(seen.configmaps)
    log = "\n".join(line for state in seen.containers.values() for line in state.log.lines())
    assert "Pushed" in log
    assert token not in log
    args = seen.pod["spec"]["containers"][0]["args"]
    assert "--secret=id=token,src=/secrets/token/token" in args
    assert leftovers(admin_kubeconfig, real_namespace) == []


def test_without_the_connection_the_build_is_refused_before_anything_is_created(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    sim_node: SimulatedNode,
    index: tuple[str, str, type[_Index]],
) -> None:
    url, _, handler = index
    op = _operation(plain_registry, url, with_connection=False)
    with pytest.raises(SpecError, match=r"id=token: no connection `token` with a mounted secret"):
        _build(admin_kubeconfig, real_namespace, op, plain_registry)
    assert handler.asked == []
    assert [p for p in sim_node.seen_pods if p.namespace == real_namespace] == []
