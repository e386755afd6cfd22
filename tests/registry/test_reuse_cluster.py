"""Reusing an image built from the same spec, against a real registry and the real cluster:
a cached build returns without a pod; --force builds anyway; can't-tell builds, also when the
registry misbehaves (a malformed or untrusted token realm, a downgrade redirect, a trickle)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from polymagic.kube.client import Cluster, connect
from polymagic.kube.session import BuildOptions, build_image, start_build
from polymagic.outcome.events import EventKind, ProgressEvent
from polymagic.registry import check_image
from polymagic.render.build_objects import KanikoOptions
from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests
from polymagic.spec.loader import load_connections
from tests.cluster import admin
from tests.cluster.control_plane import write_self_signed_cert
from tests.cluster.simulated_node import SimulatedNode
from tests.data import SEED
from tests.registry.server import (
    RegistryMode,
    RegistryServer,
    StubAnswer,
    StubServer,
    TrickleServer,
    push_test_image,
)
from tests.test_build_cluster import _leftovers, _secret

pytestmark = pytest.mark.cluster
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def cluster(admin_kubeconfig: Path, namespace: str, sim_node: SimulatedNode) -> Iterator[Cluster]:
    connected = connect(admin_kubeconfig, namespace=namespace)
    _secret(connected)
    yield connected
    connected.close()


def _build(registry_host: str, repository: str):  # type: ignore[no-untyped-def]
    op = yaml.safe_load(SEED)
    op["params"]["destination"]["value"] = f"{repository}:1"
    catalog = [{
        "name": "docker-connection", "kind": "registry",
        "schema": {"url": registry_host, "insecure": True},
        "secret": {"name": "regcred", "mountPath": "/kaniko/.docker"},
    }]  # fmt: skip
    return compile_operation(op, connections=load_connections(catalog))


OPTIONS = BuildOptions(
    timeout=120, start_timeout=60, stuck_grace=3, watch_timeout=2, kaniko=KanikoOptions()
)


def _pods(sim_node: SimulatedNode, namespace: str) -> int:
    return len([p for p in sim_node.seen_pods if p.namespace == namespace])


def test_cached_build_returns_the_existing_digest_without_a_pod(
    cluster: Cluster, sim_node: SimulatedNode, http_registry: RegistryServer, repository: str
) -> None:
    build = _build(http_registry.host, repository)
    manifests = build_manifests(build, namespace=cluster.namespace)
    # An earlier build of the same spec pushed its hash tag.
    digest = push_test_image(http_registry, repository, f"spec-{manifests.spec_hash[:20]}")
    events: list[ProgressEvent] = []
    result = build_image(cluster, build, OPTIONS, on_event=events.append)
    assert result.digest == digest
    assert result.image == f"{http_registry.host}/{repository}:1@{digest}"
    assert "not building it again" in events[0].message
    assert _pods(sim_node, cluster.namespace) == 0
    assert _leftovers(cluster) == []
    # The requested tag now points at the image (before: only the spec tag and the digest did).
    found = check_image(f"{http_registry.host}/{repository}:1", auth=None, insecure=True)
    assert found.digest == digest
    assert result.reused
    assert result.size is not None
    assert result.size > 0
    # --force builds anyway.
    forced = build_image(cluster, build, replace(OPTIONS, force=True))
    assert _pods(sim_node, cluster.namespace) == 1
    assert forced.digest != digest  # the simulated executor's own digest
    assert _leftovers(cluster) == []


def test_missing_image_is_built(
    cluster: Cluster, sim_node: SimulatedNode, http_registry: RegistryServer, repository: str
) -> None:
    build_image(cluster, _build(http_registry.host, repository), OPTIONS)
    assert _pods(sim_node, cluster.namespace) == 1


def test_registry_that_cannot_tell_means_build_with_a_warning(
    cluster: Cluster, sim_node: SimulatedNode, closed_port: str
) -> None:
    session = start_build(cluster, _build(closed_port, "team/app"), OPTIONS)
    events = list(session.events())
    warnings = [e.message for e in events if e.kind is EventKind.WARNING]
    assert any("could not tell" in w for w in warnings)
    assert events[-1].kind is EventKind.SUCCEEDED
    assert _pods(sim_node, cluster.namespace) == 1
    # Not asked again after the build: the size is unknown, and the note says why.
    assert session.result is not None
    assert session.result.size is None
    assert session.result.notes == (
        f"the image's size is unknown: cannot connect to {closed_port}: connection refused"
        " (is the registry running there?)",
    )


# -- a misbehaving registry: `polymagic build` says it can't tell and builds ---------------------

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _polymagic_build(
    kubeconfig: Path, workdir: Path, namespace: str, registry: str, *, tls: bool
) -> subprocess.CompletedProcess[str]:
    """`polymagic build` of the seed to ``registry`` (HTTPS without verification when ``tls``,
    else plain HTTP), as a user runs it; killed after 90 s (a hang fails, it does not block)."""
    op = yaml.safe_load(SEED)
    op["params"]["destination"]["value"] = "team/app:1"
    catalog = [{
        "name": "docker-connection", "kind": "registry",
        "schema": {"url": registry, "insecure": not tls},
        "secret": {"name": "regcred", "mountPath": "/kaniko/.docker"},
    }]  # fmt: skip
    (workdir / "op.yaml").write_text(yaml.safe_dump(op))
    (workdir / "connections.yaml").write_text(yaml.safe_dump(catalog))
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYMAGIC_")}
    env["KUBECONFIG"] = str(kubeconfig)
    argv = [sys.executable, "-m", "polymagic", "build", str(workdir / "op.yaml"),
            "--connections", str(workdir / "connections.yaml"), "--namespace", namespace]  # fmt: skip
    if tls:
        argv.append(f"--skip-tls-verify-registry={registry}")
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=90, check=False)


def _built_with_a_warning(
    done: subprocess.CompletedProcess[str], sim_node: SimulatedNode, namespace: str, *words: str
) -> None:
    assert done.returncode == 0, done.stderr[-3000:]
    assert "@sha256:" in done.stdout
    warnings = [line for line in done.stderr.splitlines() if "warning: could not tell" in line]
    assert len(warnings) == 1, done.stderr[-3000:]
    for word in words:
        assert word in warnings[0], warnings[0]
    assert UNSAFE.search(done.stderr) is None
    assert _pods(sim_node, namespace) == 1


@pytest.mark.registry
def test_a_malformed_token_realm_means_build_with_a_warning(
    cluster: Cluster, sim_node: SimulatedNode, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    """The real docker-registry, configured with a malformed token realm. Before: the
    ValueError ("Invalid IPv6 URL") ended `polymagic build` with a traceback."""
    registry = RegistryServer(tmp_path / "registry", RegistryMode.TLS_TOKEN, realm="http://[::1/t")
    registry.start()
    try:
        done = _polymagic_build(
            admin_kubeconfig, tmp_path, cluster.namespace, registry.host, tls=True
        )
    finally:
        registry.stop()
    _built_with_a_warning(done, sim_node, cluster.namespace, "unusable token realm")


@pytest.mark.registry
def test_a_token_realm_elsewhere_with_an_untrusted_certificate_gets_no_credentials(
    cluster: Cluster, sim_node: SimulatedNode, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    """The real docker-registry, skip-TLS-verify for it, its token realm on another host with a
    self-signed certificate (a stub that would take the credentials). Before: they were sent."""
    realm = StubServer(
        lambda method, path, headers: StubAnswer(200, {}, b'{"token": "t"}'),
        cert=write_self_signed_cert(tmp_path, "realm"),
    ).start()
    port = realm.host.rsplit(":", 1)[1]
    registry = RegistryServer(
        tmp_path / "registry", RegistryMode.TLS_TOKEN, realm=f"https://localhost:{port}/token"
    )
    registry.start()
    try:
        _registry_secret(cluster, registry)
        done = _polymagic_build(
            admin_kubeconfig, tmp_path, cluster.namespace, registry.host, tls=True
        )
    finally:
        registry.stop()
        realm.stop()
    _built_with_a_warning(done, sim_node, cluster.namespace, "not trusted", "own host only")
    assert realm.requests == []


def test_an_https_registry_redirecting_to_http_means_build_with_a_warning(
    cluster: Cluster, sim_node: SimulatedNode, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    """A stub (a registry does not redirect manifest requests): HTTPS, redirecting to a plain
    HTTP server that says the image exists. Before: the redirect was followed, the image
    "found" over HTTP, and nothing was built."""
    target = StubServer(
        lambda method, path, headers: StubAnswer(200, {"Docker-Content-Digest": DIGEST})
    ).start()
    redirect = StubServer(
        lambda method, path, headers: StubAnswer(307, {"Location": f"http://{target.host}{path}"}),
        cert=write_self_signed_cert(tmp_path, "redirect"),
    ).start()
    try:
        done = _polymagic_build(
            admin_kubeconfig, tmp_path, cluster.namespace, redirect.host, tls=True
        )
    finally:
        redirect.stop()
        target.stop()
    _built_with_a_warning(done, sim_node, cluster.namespace, "plain HTTP")
    assert target.requests == []


def test_a_registry_trickling_bytes_means_build_with_a_warning_after_one_deadline(
    cluster: Cluster, sim_node: SimulatedNode, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    """A server answering one byte a second (no registry does that on purpose). Before: every
    byte came within the per-read timeout, and `polymagic build` never got past the check."""
    server = TrickleServer().start()
    try:
        done = _polymagic_build(
            admin_kubeconfig, tmp_path, cluster.namespace, server.host, tls=False
        )
    finally:
        server.stop()
    _built_with_a_warning(done, sim_node, cluster.namespace, "no answer", "within 10s")


def _registry_secret(cluster: Cluster, registry: RegistryServer) -> None:
    """The destination secret holds the registry's user: credentials that must not leak."""
    config = registry.docker_config("username")
    data = {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}
    admin.core(cluster).replace_namespaced_secret(
        "regcred",
        cluster.namespace,
        {"metadata": {"name": "regcred"}, "type": "kubernetes.io/dockerconfigjson", "data": data},
    )
