"""The test node's runc runtime seen from the API, with hand-written pods: volumes, env,
the termination message and the cgroups path as a kubelet would give them to the executor.

The node holds only the executor image, so each pod runs Kaniko with ``--no-push`` and a
Dockerfile whose RUN steps look at what the container was given (a RUN step sees the
container's mounts)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from polymagic.kube.client import Cluster, connect
from tests.cluster import admin
from tests.cluster.runc_runtime import EXECUTOR_REFERENCE
from tests.real_executor.base_image import BASE_REPOSITORY, BASE_TAG
from tests.registry.server import RegistryServer

pytestmark = [pytest.mark.cluster, pytest.mark.real_executor]

BINARY = bytes(range(256))


@pytest.fixture
def cluster(admin_kubeconfig: Path, real_namespace: str) -> Iterator[Cluster]:
    connected = connect(admin_kubeconfig, namespace=real_namespace)
    yield connected
    connected.close()


def _wait_terminated(cluster: Cluster, name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = cluster.read_pod(cluster.namespace, name)
        if pod["status"].get("phase") in ("Succeeded", "Failed"):
            return pod
        time.sleep(0.2)
    raise AssertionError(f"pod {name} did not finish in {timeout} s")


def _log(cluster: Cluster, name: str) -> str:
    text: str = admin.core(cluster).read_namespaced_pod_log(
        name, cluster.namespace, container="kaniko"
    )
    return text


def _pod(name: str, args: list[str], **spec: Any) -> dict[str, Any]:
    container = {"name": "kaniko", "image": EXECUTOR_REFERENCE, "args": args}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


DOCKERFILE = """\
FROM {base}
ARG FROM_SECRET
RUN echo "build arg from a secret: $FROM_SECRET"
RUN cat /cfg/sub/binary.dat | od -An -tx1 | head -n 1
RUN ls /cfg | tr '\\n' ' ' && echo
RUN touch /cfg/new 2>/dev/null && echo configmap-writable || echo configmap-read-only
RUN touch /scratch/new && echo scratch-writable
RUN touch /locked/new 2>/dev/null && echo locked-writable || echo locked-read-only
RUN cat /creds/token && echo
RUN grep -o 'kubepods/[a-z]*/pod[0-9a-f-]*' /proc/self/cgroup | head -n 1
"""


def test_volumes_env_and_cgroups_reach_the_container(
    cluster: Cluster, plain_registry: RegistryServer
) -> None:
    base = plain_registry.image(BASE_REPOSITORY, BASE_TAG)
    admin.core(cluster).create_namespaced_config_map(
        cluster.namespace,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "ctx"},
            "data": {"Dockerfile": DOCKERFILE.format(base=base), "unused": "x"},
            "binaryData": {"binary": base64.b64encode(BINARY).decode()},
        },
    )
    admin.core(cluster).create_namespaced_secret(
        cluster.namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "stringData": {"token": "s3cr3t-token", "arg": "from-the-secret"},
        },
    )
    pod = _pod(
        "runc-wiring",
        [
            "--dockerfile=/ctx/Dockerfile",
            "--context=dir:///ctx",
            "--no-push",
            f"--insecure-registry={plain_registry.host}",
            "--build-arg=FROM_SECRET=$(FROM_SECRET)",
        ],
        container={
            "env": [
                {
                    "name": "FROM_SECRET",
                    "valueFrom": {"secretKeyRef": {"name": "creds", "key": "arg"}},
                }
            ],
            "volumeMounts": [
                {"name": "ctx", "mountPath": "/ctx"},
                {"name": "cfg", "mountPath": "/cfg"},
                {"name": "creds", "mountPath": "/creds"},
                {"name": "scratch", "mountPath": "/scratch"},
                {"name": "scratch", "mountPath": "/locked", "readOnly": True},
            ],
        },
        volumes=[
            {"name": "ctx", "configMap": {"name": "ctx", "items": [{"key": "Dockerfile", "path": "Dockerfile"}]}},
            {"name": "cfg", "configMap": {"name": "ctx", "items": [{"key": "binary", "path": "sub/binary.dat"}]}},
            {"name": "creds", "secret": {"secretName": "creds", "items": [{"key": "token", "path": "token"}]}},
            {"name": "scratch", "emptyDir": {}},
        ],
    )  # fmt: skip
    admin.core(cluster).create_namespaced_pod(cluster.namespace, pod)
    done = _wait_terminated(cluster, "runc-wiring")
    log = _log(cluster, "runc-wiring")
    status = done["status"]["containerStatuses"][0]
    assert status["state"]["terminated"]["exitCode"] == 0, log
    assert done["status"]["phase"] == "Succeeded"
    lines = log.splitlines()
    assert "build arg from a secret: from-the-secret" in lines
    assert " 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f" in lines  # binaryData, via items
    assert "sub " in lines  # only the items asked for (and the hidden ..data)
    assert "configmap-read-only" in lines
    assert "scratch-writable" in lines
    assert "locked-read-only" in lines
    assert "s3cr3t-token" in lines
    assert f"kubepods/burstable/pod{done['metadata']['uid']}" not in lines
    assert f"kubepods/besteffort/pod{done['metadata']['uid']}" in lines


def test_without_a_digest_file_a_failure_reports_the_log_tail(
    cluster: Cluster,
) -> None:
    pod = _pod(
        "runc-fallback",
        ["--no-such-flag"],
        container={"terminationMessagePolicy": "FallbackToLogsOnError"},
    )
    admin.core(cluster).create_namespaced_pod(cluster.namespace, pod)
    done = _wait_terminated(cluster, "runc-fallback")
    terminated = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 1
    assert terminated["reason"] == "Error"
    log = _log(cluster, "runc-fallback")
    assert "Error: unknown flag: --no-such-flag" in log
    # No termination-log content: the kubelet takes the log's tail (2048 bytes at most).
    message = terminated["message"]
    assert 0 < len(message.encode()) <= 2048
    assert log.rstrip("\n").endswith(message.rstrip("\n"))
    assert 'Use "executor [command] --help"' in message
    assert terminated["containerID"].startswith("runc://")
    assert done["status"]["phase"] == "Failed"


def test_resource_limits_are_in_the_containers_cgroups(
    cluster: Cluster, plain_registry: RegistryServer
) -> None:
    base = plain_registry.image(BASE_REPOSITORY, BASE_TAG)
    files = ["memory/memory.limit_in_bytes", "memory/memory.memsw.limit_in_bytes"]
    files += ["cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us", "cpu/cpu.shares"]
    cat = " ".join(f"/sys/fs/cgroup/{f}" for f in files)
    admin.core(cluster).create_namespaced_config_map(
        cluster.namespace,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "ctx"},
            "data": {"Dockerfile": f"FROM {base}\nRUN cat {cat} | tr '\\n' ' ' && echo\n"},
        },
    )
    pod = _pod(
        "runc-limits",
        ["--dockerfile=/ctx/Dockerfile", "--context=dir:///ctx", "--no-push",
         f"--insecure-registry={plain_registry.host}"],
        container={
            "volumeMounts": [{"name": "ctx", "mountPath": "/ctx"}],
            "resources": {"limits": {"memory": "128Mi", "cpu": "500m"}, "requests": {"cpu": "250m"}},
        },
        volumes=[{"name": "ctx", "configMap": {"name": "ctx"}}],
    )  # fmt: skip
    admin.core(cluster).create_namespaced_pod(cluster.namespace, pod)
    done = _wait_terminated(cluster, "runc-limits")
    log = _log(cluster, "runc-limits")
    assert done["status"]["phase"] == "Succeeded", log
    # memory and memory+swap at the limit (no swap), 500m as 50 ms per 100 ms, 250m as shares.
    assert f"{128 * 2**20} {128 * 2**20} 50000 100000 256 " in log.splitlines(), log
