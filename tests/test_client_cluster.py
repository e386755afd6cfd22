"""The cluster client (``polymagic.kube.client``) against the real apiserver.

- It logs in with what polymagic leaves to the ``kubernetes`` package: a client certificate
  (inline in the kubeconfig, as kubeadm and kind write it) and an exec plugin whose token is
  asked again when it is about to expire (static tokens and the in-cluster service account:
  ``tests/test_build_cluster.py``, ``tests/test_rbac_cluster.py``);
- the API's error answers and an unreachable server keep their wording;
- a process running the cluster commands (a reused and a real ``polymagic build``, ``status``,
  ``logs``, ``list``, ``cancel``) and every ``Cluster`` call never imports the generated API
  (``CoreV1Api`` and the other API classes, the pydantic models), and one running only
  ``status``, ``logs``, ``list`` and ``cancel`` not polymagic's spec layer or Jinja2 either:
  checked by module name in ``sys.modules``, not by timing.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from polymagic.errors import ApiError, ClusterError
from polymagic.kube.client import Cluster, connect
from polymagic.kube.session import build_image, start_build
from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests
from polymagic.spec.loader import load_connections
from tests.cluster.control_plane import ControlPlane, free_port
from tests.cluster.simulated_node import Scenario, SimulatedNode
from tests.data import SEED
from tests.registry.server import RegistryMode, RegistryServer, push_test_image
from tests.test_build_cluster import FAST, _build, _leftovers, _secret

pytestmark = pytest.mark.cluster


@pytest.fixture
def cluster(admin_kubeconfig: Path, namespace: str, sim_node: SimulatedNode) -> Iterator[Cluster]:
    connected = connect(admin_kubeconfig, namespace=namespace)
    yield connected
    connected.close()


# -- logging in ------------------------------------------------------------------------------


def test_a_client_certificate_logs_in_and_builds(
    control_plane: ControlPlane, namespace: str, sim_node: SimulatedNode, tmp_path: Path
) -> None:
    kubeconfig = control_plane.cert_kubeconfig(
        tmp_path / "carol.kubeconfig", "carol", ["system:masters"]
    )
    assert "token" not in kubeconfig.read_text()
    carol = connect(kubeconfig, namespace=namespace)
    try:
        assert carol.source == f"kubeconfig {kubeconfig}"
        assert carol.can_i("create", "pods", namespace)
        _secret(carol)
        assert "@sha256:" in build_image(carol, _build(), FAST).image
        assert _leftovers(carol) == []
    finally:
        carol.close()


def test_a_client_certificate_without_rights_is_told_permission_denied(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    kubeconfig = control_plane.cert_kubeconfig(tmp_path / "dave.kubeconfig", "dave")
    dave = connect(kubeconfig, namespace=namespace)
    try:
        assert dave.can_i("create", "pods", namespace) is False
        with pytest.raises(
            ApiError, match=r"^listing pods: permission denied \(403 Forbidden\)"
        ) as caught:
            dave.list_pods(namespace, "a=b")
    finally:
        dave.close()
    assert caught.value.status == 403
    assert str(caught.value).startswith("listing pods: permission denied (403 Forbidden): ")
    assert 'User "dave" cannot list resource "pods"' in str(caught.value)


def test_a_client_certificate_the_cluster_does_not_trust_is_refused(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    kubeconfig = control_plane.cert_kubeconfig(
        tmp_path / "mallory.kubeconfig", "mallory", ["system:masters"], trusted=False
    )
    mallory = connect(kubeconfig, namespace=namespace)
    try:
        with pytest.raises(
            ApiError, match=r"the credentials were not accepted .*\(401 Unauthorized\)"
        ) as caught:
            mallory.read_namespace(namespace)
    finally:
        mallory.close()
    assert caught.value.status == 401
    assert str(caught.value).startswith(
        f"reading namespace `{namespace}`: the credentials were not accepted (expired token or"
        " wrong kubeconfig user) (401 Unauthorized)"
    )


def test_an_exec_plugin_logs_in_and_is_asked_again_before_its_token_expires(
    control_plane: ControlPlane, cluster: Cluster, tmp_path: Path
) -> None:
    calls = tmp_path / "calls"
    # Expiring within the client's 5-minute margin: the token is asked for again per request.
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=2)
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {
            "token": control_plane.admin.token,
            "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        f"import json\nopen({str(calls)!r}, 'a').write('x')\nprint(json.dumps({credential!r}))\n"
    )
    config = yaml.safe_load(control_plane.admin_kubeconfig.read_text())
    config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": [str(plugin)],
        }
    }
    kubeconfig = tmp_path / "exec.kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    with_plugin = connect(kubeconfig, namespace=cluster.namespace)
    try:
        asked_at_login = len(calls.read_text())
        body = {"metadata": {"name": "by-plugin"}, "data": {"a": "1"}}
        with_plugin.create_config_map(cluster.namespace, body)
        with_plugin.patch_config_map(cluster.namespace, "by-plugin", {"data": {"b": "2"}})
        assert with_plugin.read_config_map(cluster.namespace, "by-plugin")["data"] == {
            "a": "1",
            "b": "2",
        }
        assert with_plugin.delete_config_map(cluster.namespace, "by-plugin") is True
    finally:
        with_plugin.close()
    assert asked_at_login >= 1
    assert len(calls.read_text()) >= asked_at_login + 4


# -- answers -----------------------------------------------------------------------------------


def test_error_answers_and_an_unreachable_server_keep_their_wording(
    cluster: Cluster, tmp_path: Path
) -> None:
    ns = cluster.namespace
    with pytest.raises(ApiError, match=r"not found \(404 Not Found\)") as missing:
        cluster.read_pod(ns, "nothing-here")
    assert missing.value.status == 404
    assert missing.value.reason == "Not Found"
    assert str(missing.value) == (
        'reading Pod `nothing-here`: not found (404 Not Found): pods "nothing-here" not found'
    )
    assert cluster.delete_pod(ns, "nothing-here") is False
    assert cluster.delete_config_map(ns, "nothing-here") is False
    cluster.create_config_map(ns, {"metadata": {"name": "twice"}})
    with pytest.raises(
        ApiError, match=r"already exists or changed meanwhile \(409 Conflict\)"
    ) as conflict:
        cluster.create_config_map(ns, {"metadata": {"name": "twice"}})
    assert conflict.value.status == 409
    assert str(conflict.value).startswith(
        "creating ConfigMap `twice`: it already exists or changed meanwhile (409 Conflict): "
    )
    with pytest.raises(ApiError, match=r"\(422 Unprocessable Entity\)") as invalid:
        cluster.create_config_map(ns, {"metadata": {"name": "Not_Valid"}})
    assert invalid.value.status == 422
    assert cluster.list_config_maps(ns, "no-such-label=x") == []
    config = yaml.safe_load(Path(cluster.source.removeprefix("kubeconfig ")).read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    (tmp_path / "closed.kubeconfig").write_text(json.dumps(config))
    closed = connect(tmp_path / "closed.kubeconfig", namespace=ns)
    try:
        with pytest.raises(ClusterError, match="cannot reach the API server at") as unreachable:
            closed.read_namespace(ns)
    finally:
        closed.close()
    assert not isinstance(unreachable.value, ApiError)
    assert str(unreachable.value).startswith(
        f"reading namespace `{ns}`: cannot reach the API server at {closed.server} ("
    )


# -- what a process running the cluster commands imports --------------------------------------

# Runs in a new interpreter: the cluster commands as a user runs them (polymagic's `main`), then
# the calls they did not make, then reports which generated-API modules were imported.
COMMANDS = textwrap.dedent(
    """
    import json, sys
    from polymagic.cli.main import main
    from polymagic.kube.client import connect

    namespace, op, other_op, catalog, held, report = sys.argv[1:]
    build = ["build", "--connections", catalog, "--namespace", namespace]
    exits = {
        "reused build": main([*build, op]),
        "real build": main([*build, other_op]),
        "status": main(["status", held, "--namespace", namespace]),
        "logs": main(["logs", held, "--namespace", namespace]),
        "list": main(["list", "--namespace", namespace]),
        "list -A": main(["list", "-A"]),
    }
    cluster = connect(namespace=namespace)
    cluster.read_namespace(namespace)
    cluster.read_secret_type(namespace, "regcred")
    cluster.read_secret_data(namespace, "regcred")
    cluster.pod_events(namespace, held)
    version = cluster.read_pod(namespace, held)["metadata"]["resourceVersion"]
    list(cluster.watch_pod(namespace, held, version, 1))
    cluster.list_config_maps(namespace, "a=b")
    fresh = cluster.fresh()
    fresh.read_config_map(namespace, held)
    fresh.close()
    cluster.close()
    client = sys.modules.get("kubernetes.client")
    generated = sorted(
        name for name in sys.modules
        if name == "kubernetes.client.api" or name.startswith("kubernetes.client.api.")
        or name.startswith("kubernetes.client.models.")
    )
    classes = sorted(
        name for name in ("CoreV1Api", "AuthorizationV1Api")
        if client is not None and name in vars(client)
    )
    loaded = "kubernetes.client.api_client" in sys.modules
    with open(report, "w") as file:
        json.dump({"exits": exits, "generated": generated, "classes": classes, "loaded": loaded}, file)
    """
)


# A new interpreter running only the commands that read a build back: they import neither the
# spec layer (pydantic's validators, the Polyaxon models) nor the render layer's makers.
BY_NAME = textwrap.dedent(
    """
    import json, sys
    from polymagic.cli.main import main

    namespace, held, report = sys.argv[1:]
    exits = {
        "status": main(["status", held, "--namespace", namespace]),
        "logs": main(["logs", held, "--namespace", namespace]),
        "list": main(["list", "--namespace", namespace]),
        "cancel": main(["cancel", held, "--namespace", namespace]),
    }
    heavy = ("polymagic.spec.models", "polymagic.render.compiler", "polymagic.render.manifests",
             "polymagic.render.context", "jinja2")
    with open(report, "w") as file:
        json.dump({"exits": exits, "loaded": [m for m in heavy if m in sys.modules]}, file)
    """
)


@pytest.fixture(scope="module")
def module_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = RegistryServer(tmp_path_factory.mktemp("registry"), RegistryMode.HTTP)
    try:
        yield server.start()
    finally:
        server.stop()


def _script(code: str, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``code`` run by a new interpreter with ``argv``, as a user's process would run."""
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _operation(repository: str) -> str:
    op = yaml.safe_load(SEED)
    op["params"]["destination"]["value"] = f"{repository}:1"
    return yaml.safe_dump(op)


def test_the_cluster_commands_never_import_the_generated_api(
    cluster: Cluster,
    sim_node: SimulatedNode,
    module_registry: RegistryServer,
    admin_kubeconfig: Path,
    tmp_path: Path,
) -> None:
    ns = cluster.namespace
    _secret(cluster)
    catalog = [{
        "name": "docker-connection", "kind": "registry",
        "schema": {"url": module_registry.host, "insecure": True},
        "secret": {"name": "regcred", "mountPath": "/kaniko/.docker"},
    }]  # fmt: skip
    (tmp_path / "connections.yaml").write_text(yaml.safe_dump(catalog))
    connections = load_connections(catalog)
    for name in ("reused", "other", "held"):
        (tmp_path / f"{name}.yaml").write_text(_operation(f"imports/{name}"))
    # The registry already holds the first spec's hash tag: that build is reused, no pod.
    reused = compile_operation((tmp_path / "reused.yaml").read_text(), connections=connections)
    spec_hash = build_manifests(reused, namespace=ns).spec_hash
    push_test_image(module_registry, "imports/reused", f"spec-{spec_hash[:20]}")
    # A build held running, for `status`, `logs`, `watch` and `cancel`.
    sim_node.set_scenario(ns, Scenario.SUCCESS, hold_running=True)
    held_build = compile_operation((tmp_path / "held.yaml").read_text(), connections=connections)
    held = start_build(cluster, held_build, FAST)
    sim_node.set_scenario(ns, Scenario.SUCCESS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYMAGIC_")}
    env["KUBECONFIG"] = str(admin_kubeconfig)
    report = tmp_path / "report.json"
    argv = [ns, tmp_path / "reused.yaml", tmp_path / "other.yaml", tmp_path / "connections.yaml"]
    done = _script(COMMANDS, [*map(str, argv), held.name, str(report)], env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "not building it again" in done.stderr
    result = json.loads(report.read_text())
    assert result["exits"] == dict.fromkeys(result["exits"], 0), done.stderr[-3000:]
    assert result["loaded"]  # the client's REST layer was used: the check below means something
    assert result["generated"] == []
    assert result["classes"] == []
    by_name = _script(BY_NAME, [ns, held.name, str(report)], env)
    assert by_name.returncode == 0, by_name.stderr[-3000:]
    assert f"cancelled build `{held.name}`" in by_name.stdout
    light = json.loads(report.read_text())
    assert light["exits"] == dict.fromkeys(light["exits"], 0), by_name.stderr[-3000:]
    assert light["loaded"] == []
    pods = [p.name for p in sim_node.seen_pods if p.namespace == ns]
    assert len(pods) == 2  # the held build and the real one; none for the reused build
    deadline = time.monotonic() + 20
    while _leftovers(cluster) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _leftovers(cluster) == []
