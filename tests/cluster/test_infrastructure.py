"""Tests of the real-cluster test infrastructure itself.

They check, through the ``kubernetes`` client and the real apiserver, that the
control plane schedules, authorizes, garbage-collects, compacts and restarts as
a cluster does, and that the simulated node produces every kubelet behaviour
the product's tests rely on.  The few tests at the end check the Kaniko
simulation offline (no cluster).
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from urllib3 import BaseHTTPResponse

from tests.cluster.control_plane import ControlPlane, ControlPlaneError, ensure_binaries
from tests.cluster.simulated_node import (
    FATAL_RUN_ERROR,
    KanikoArgs,
    KanikoLine,
    Scenario,
    SimulatedNode,
    format_kaniko_line,
    kaniko_digest,
    parse_dockerfile,
)

T = TypeVar("T")

KANIKO_IMAGE = "gcr.io/kaniko-project/executor:v1.24.0"
DESTINATION = "registry.example.com/org/app:v1"
DOCKERFILE = """
FROM python:3.11-slim

# a comment Kaniko never echoes
ENV LC_ALL en_US.UTF-8
WORKDIR /code

COPY requirements.txt /code
RUN pip install --no-cache-dir -U polyaxon
RUN echo built
"""
INFO_LINE = re.compile(r"^\x1b\[36mINFO\x1b\[0m\[(\d{4})\] (.*?) *$")


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def node(sim_node: SimulatedNode) -> Iterator[SimulatedNode]:
    """The session's simulated node; fails the test if one of its threads hit an unexpected error."""
    already = len(sim_node.errors)
    yield sim_node
    assert sim_node.errors[already:] == []


@pytest.fixture
def core(control_plane: ControlPlane) -> Iterator[client.CoreV1Api]:
    """A CoreV1Api client with the admin kubeconfig."""
    api_client = config.new_client_from_config(config_file=str(control_plane.admin_kubeconfig))
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def build_pod(
    name: str, *, args: list[str] | None = None, secret: str | None = None
) -> dict[str, Any]:
    """A Kaniko pod reading its Dockerfile from the ConfigMap ``<name>-context`` at /workspace.

    The client's hints ask for a model (``V1Pod``) as a body, but it sends a plain dict as well
    (``ApiClient.sanitize_for_serialization``); the calls passing a dict body say
    ``# type: ignore[arg-type]`` for that alone."""
    volumes: list[dict[str, Any]] = [{"name": "context", "configMap": {"name": f"{name}-context"}}]
    mounts: list[dict[str, Any]] = [{"name": "context", "mountPath": "/workspace"}]
    if secret:
        volumes.append({"name": "docker-config", "secret": {"secretName": secret}})
        mounts.append({"name": "docker-config", "mountPath": "/kaniko/.docker", "readOnly": True})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "kaniko",
                    "image": KANIKO_IMAGE,
                    "args": args
                    or [
                        "--dockerfile=Dockerfile",
                        "--context=dir:///workspace",
                        f"--destination={DESTINATION}",
                        "--digest-file=/dev/termination-log",
                    ],
                    "volumeMounts": mounts,
                }
            ],
            "volumes": volumes,
        },
    }


def create_build(
    core: client.CoreV1Api,
    namespace: str,
    name: str,
    dockerfile: str = DOCKERFILE,
    **pod_options: Any,
) -> client.V1Pod:
    core.create_namespaced_config_map(
        namespace,
        {  # type: ignore[arg-type]  # a dict body (see build_pod)
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-context"},
            "data": {"Dockerfile": dockerfile},
        },
    )
    return core.create_namespaced_pod(namespace, build_pod(name, **pod_options))  # type: ignore[arg-type]


def wait_phase(
    core: client.CoreV1Api, namespace: str, name: str, *phases: str, timeout: float = 30.0
) -> client.V1Pod:
    def probe() -> client.V1Pod | None:
        pod = core.read_namespaced_pod(name, namespace)
        phase = pod_status(pod).phase
        return pod if phase is not None and phase in phases else None

    return wait_for(f"pod {name} in phase {phases}", probe, timeout)


def pod_status(pod: client.V1Pod) -> client.V1PodStatus:
    """The pod's status (the apiserver gives every pod one; the model's fields are all optional)."""
    assert pod.status is not None, pod.metadata
    return pod.status


def container_state(pod: client.V1Pod) -> client.V1ContainerState:
    """The state of the pod's only container."""
    statuses = pod_status(pod).container_statuses
    assert statuses, f"no container status: {pod.status}"
    state = statuses[0].state
    assert state is not None, statuses[0]
    return state


def terminated_state(pod: client.V1Pod) -> client.V1ContainerStateTerminated:
    terminated = container_state(pod).terminated
    assert terminated is not None, pod.status
    return terminated


def uid_of(obj: client.V1Pod | client.V1ConfigMap) -> str:
    assert obj.metadata is not None, obj
    assert obj.metadata.uid is not None, obj.metadata
    return obj.metadata.uid


def follow_log(core: client.CoreV1Api, namespace: str, name: str) -> Iterator[str]:
    """The pod's log lines, streamed through the apiserver as they are written."""
    # With _preload_content=False the client returns urllib3's response, not the str it declares.
    response = cast(
        BaseHTTPResponse,
        core.read_namespaced_pod_log(
            name,
            namespace,
            container="kaniko",
            follow=True,
            _preload_content=False,
            _request_timeout=(5, 30),
        ),
    )
    try:
        buffer = b""
        for chunk in response.stream(amt=None, decode_content=False):
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            yield from (line.decode() for line in complete)
        if buffer:
            yield buffer.decode()
    finally:
        response.release_conn()


def events_of(core: client.CoreV1Api, namespace: str, pod: str) -> list[client.CoreV1Event]:
    return [e for e in core.list_namespaced_event(namespace).items if e.involved_object.name == pod]


def refusal(error: ApiException) -> str:
    """The message of the Status object an apiserver refusal carries."""
    assert error.body is not None, error
    message: str = json.loads(error.body)["message"]
    return message


def info_messages(lines: list[str]) -> list[str]:
    return [m.group(2) for m in map(INFO_LINE.match, lines) if m]


def log_error(core: client.CoreV1Api, namespace: str, name: str) -> tuple[int, str]:
    """(HTTP status, Status message) of a log request the apiserver refuses."""
    with pytest.raises(ApiException, match=r"^\(\d{3}\)\nReason: ") as caught:
        core.read_namespaced_pod_log(name, namespace, container="kaniko")
    return caught.value.status, refusal(caught.value)


# --------------------------------------------------------------------------- the happy path


@pytest.mark.cluster
def test_kaniko_pod_is_scheduled_runs_streams_colored_logs_and_succeeds(
    core: client.CoreV1Api, node: SimulatedNode, namespace: str
) -> None:
    node.set_scenario(namespace, Scenario.SUCCESS, hold_running=True, heartbeat_interval=0.2)
    created = create_build(core, namespace, "build")

    running = wait_phase(core, namespace, "build", "Running")
    assert running.spec is not None
    assert running.spec.node_name == node.name  # bound by the real kube-scheduler
    started = container_state(running).running
    assert started is not None
    assert started.started_at is not None
    lines: list[str] = []
    for line in follow_log(core, namespace, "build"):
        lines.append(line)
        if "held by the simulated node" in line and node.release(namespace, "build") != 1:
            pytest.fail("the pod to release was not found")
    done = wait_phase(core, namespace, "build", "Succeeded")

    assert (
        lines[0]
        == "\x1b[36mINFO\x1b[0m[0000] "
        + "Retrieving image manifest python:3.11-slim".ljust(44)
        + " "
    )
    messages = info_messages(lines)
    echoed = [m for m in messages if m.split(" ")[0] in ("ENV", "WORKDIR", "COPY", "RUN")]
    assert echoed == [
        "ENV LC_ALL en_US.UTF-8",
        "WORKDIR /code",
        "COPY requirements.txt /code",
        "RUN pip install --no-cache-dir -U polyaxon",
        "RUN echo built",
    ]
    first_run = messages.index("RUN pip install --no-cache-dir -U polyaxon")
    assert messages[first_run + 3 : first_run + 6] == [
        "Cmd: /bin/sh",
        "Args: [-c pip install --no-cache-dir -U polyaxon]",
        "Running: [/bin/sh -c pip install --no-cache-dir -U polyaxon]",
    ]
    assert "Collecting polyaxon" in lines  # unprefixed RUN output
    assert "built" in lines
    digest = kaniko_digest(DOCKERFILE, [DESTINATION])
    assert messages[-2:] == [
        f"Pushing image to {DESTINATION}",
        f"Pushed registry.example.com/org/app@{digest}",
    ]

    terminated = terminated_state(done)
    assert (terminated.exit_code, terminated.reason, terminated.message) == (0, "Completed", digest)
    assert terminated.finished_at is not None

    seen = node.seen_pod(namespace, "build")
    assert seen.uid == uid_of(created)
    assert seen.configmaps == {"build-context": {"Dockerfile": DOCKERFILE}}
    assert seen.dockerfile == DOCKERFILE
    assert seen.args["kaniko"].destinations == (DESTINATION,)
    assert seen.exit_codes == {"kaniko": 0}

    events = events_of(core, namespace, "build")
    assert "Scheduled" in {e.reason for e in events}
    kubelet = [e for e in events if e.source and e.source.component == "kubelet"]
    assert {e.reason for e in kubelet} == {"Pulling", "Pulled", "Created", "Started"}
    assert all(e.involved_object.uid == uid_of(created) and e.type == "Normal" for e in kubelet)
    assert f'Pulling image "{KANIKO_IMAGE}"' in {e.message for e in kubelet}


@pytest.mark.cluster
def test_log_endpoint_honours_tail_lines_and_timestamps(
    core: client.CoreV1Api, node: SimulatedNode, namespace: str
) -> None:
    create_build(core, namespace, "build")
    wait_phase(core, namespace, "build", "Succeeded")

    tail = core.read_namespaced_pod_log("build", namespace, tail_lines=2)
    stamped = core.read_namespaced_pod_log("build", namespace, timestamps=True)

    assert len(tail.splitlines()) == 2
    assert info_messages(tail.splitlines())[0] == f"Pushing image to {DESTINATION}"
    assert all(re.match(r"^\d{4}-\d\d-\d\dT[\d:.]+Z ", line) for line in stamped.splitlines())


# --------------------------------------------------------------------------- failure scenarios


@pytest.mark.cluster
def test_run_fails_scenario_exits_with_the_runs_status_and_kanikos_error_line(
    core: client.CoreV1Api, node: SimulatedNode, namespace: str
) -> None:
    # As the real executor does (tests/fixtures/kaniko-logs/run-fails-exit-3.log): the
    # container exits with the failing RUN's own status, not Kaniko's catch-all 1.
    node.set_scenario(namespace, Scenario.RUN_FAILS, step=2)
    create_build(core, namespace, "build")

    failed = wait_phase(core, namespace, "build", "Failed")

    terminated = terminated_state(failed)
    assert (terminated.exit_code, terminated.reason, terminated.message) == (3, "Error", None)
    lines = core.read_namespaced_pod_log("build", namespace).splitlines()
    assert lines[-2:] == ["built", FATAL_RUN_ERROR.format(code=3)]
    assert "RUN echo built" in info_messages(lines)
    assert not any("Pushing image" in line for line in lines)


@pytest.mark.cluster
def test_a_failing_run_ending_with_exit_n_fails_with_n(
    core: client.CoreV1Api, node: SimulatedNode, namespace: str
) -> None:
    node.set_scenario(namespace, Scenario.RUN_FAILS, step=2)
    create_build(
        core, namespace, "build", DOCKERFILE.replace("RUN echo built", "RUN echo x && exit 42")
    )

    terminated = terminated_state(wait_phase(core, namespace, "build", "Failed"))

    assert terminated.exit_code == 42
    lines = core.read_namespaced_pod_log("build", namespace).splitlines()
    assert lines[-1] == FATAL_RUN_ERROR.format(code=42)


@pytest.mark.cluster
def test_image_pull_fails_scenario_reports_waiting_reasons_and_events(
    core: client.CoreV1Api, node: SimulatedNode, namespace: str
) -> None:
    node.set_scenario(namespace, Scenario.IMAGE_PULL_FAILS, retry_interval=0.3)
    create_build(core, namespace, "build")

    reasons: set[str] = set()
    stream = watch.Watch().stream(core.list_namespaced_pod, namespace, timeout_seconds=15)
    try:
        for event in stream:
            for status in event["object"].status.container_statuses or []:
                if status.state.waiting:
                    reasons.add(status.state.waiting.reason)
            if {"ErrImagePull", "ImagePullBackOff"} <= reasons:
                break
    finally:
        stream.close()

    assert {"ErrImagePull", "ImagePullBackOff"} <= reasons
    pod = core.read_namespaced_pod("build", namespace)
    assert pod_status(pod).phase == "Pending"
    events = events_of(core, namespace, "build")
    pull_failures = [
        e
        for e in events
        if e.reason == "Failed"
        and e.type == "Warning"
        and (e.message or "").startswith(f'Failed to pull image "{KANIKO_IMAGE}": rpc error: ')
    ]
    assert pull_failures
    assert any(
        e.reason == "BackOff" and e.message == f'Back-off pulling image "{KANIKO_IMAGE}"'
        for e in events
    )
    assert any(e.reason == "Failed" and e.message == "Error: ImagePullBackOff" for e in events)
    assert log_error(core, namespace, "build") in {
        (400, 'container "kaniko" in pod "build" is waiting to start: image can\'t be pulled'),
        (
            400,
            'container "kaniko" in pod "build" is waiting to start: trying and failing to pull image',
        ),
    }


@pytest.mark.cluster
def test_missing_secret_gives_failed_mount_until_the_secret_exists(
    core: client.CoreV1Api, node: SimulatedNode, namespace: str
) -> None:
    node.set_scenario(namespace, Scenario.MISSING_SECRET, retry_interval=0.3)
    create_build(core, namespace, "build", secret="docker-config")
    message = (
        'MountVolume.SetUp failed for volume "docker-config" : secret "docker-config" not found'
    )

    def repeated_failed_mount() -> client.CoreV1Event | None:
        return next(
            (
                e
                for e in events_of(core, namespace, "build")
                if e.reason == "FailedMount"
                and e.type == "Warning"
                and e.message == message
                and (e.count or 0) >= 2
            ),
            None,
        )

    event = wait_for("a repeated FailedMount event", repeated_failed_mount)

    assert event.source is not None
    assert event.source.component == "kubelet"
    pod = core.read_namespaced_pod("build", namespace)
    assert pod_status(pod).phase == "Pending"
    waiting = container_state(pod).waiting
    assert waiting is not None
    assert waiting.reason == "ContainerCreating"
    assert log_error(core, namespace, "build") == (
        400,
        'container "kaniko" in pod "build" is waiting to start: ContainerCreating',
    )

    core.create_namespaced_secret(
        namespace,
        {  # type: ignore[arg-type]  # a dict body (see build_pod)
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "docker-config"},
            "stringData": {"config.json": "{}"},
        },
    )
    wait_phase(core, namespace, "build", "Succeeded")


@pytest.mark.cluster
def test_slow_start_is_a_slow_image_pull_then_succeeds(
    core: client.CoreV1Api, node: SimulatedNode, namespace: str
) -> None:
    node.set_scenario(namespace, Scenario.SLOW_START, seconds=3.0)
    started = time.monotonic()
    create_build(core, namespace, "build")

    def reasons() -> set[str | None]:
        return {e.reason for e in events_of(core, namespace, "build")}

    wait_for("the Pulling event", lambda: "Pulling" in reasons())
    assert "Pulled" not in reasons()
    assert log_error(core, namespace, "build") == (
        400,
        'container "kaniko" in pod "build" is waiting to start: ContainerCreating',
    )
    wait_phase(core, namespace, "build", "Succeeded")
    assert time.monotonic() - started >= 3.0
    pulled = next(e for e in events_of(core, namespace, "build") if e.reason == "Pulled")
    assert re.fullmatch(
        rf'Successfully pulled image "{re.escape(KANIKO_IMAGE)}" in 3\.\d{{9}}s',
        pulled.message or "",
    )


@pytest.mark.cluster
def test_flood_streams_thousands_of_lines_through_the_apiserver(
    core: client.CoreV1Api, node: SimulatedNode, namespace: str
) -> None:
    node.set_scenario(namespace, Scenario.FLOOD, lines=3000)
    create_build(core, namespace, "build")
    wait_phase(core, namespace, "build", "Running", "Succeeded")

    lines = list(follow_log(core, namespace, "build"))

    flood = [line for line in lines if line.startswith("flood output line ")]
    assert len(flood) == 3000
    assert flood[-1] == "flood output line 3000 of 3000"
    assert info_messages(lines)[-1].startswith("Pushed registry.example.com/org/app@sha256:")
    wait_phase(core, namespace, "build", "Succeeded")


# --------------------------------------------------------------------------- cluster behaviour


@pytest.mark.cluster
def test_unprivileged_user_is_forbidden_to_create_pods(
    user_kubeconfig: Path, namespace: str
) -> None:
    alice = client.CoreV1Api(config.new_client_from_config(config_file=str(user_kubeconfig)))

    with pytest.raises(ApiException, match=r"^\(403\)") as caught:
        alice.create_namespaced_pod(namespace, build_pod("build"))  # type: ignore[arg-type]

    assert caught.value.status == 403
    assert refusal(caught.value).startswith(
        'pods is forbidden: User "alice" cannot create resource "pods" in API group "" in the namespace '
    )


@pytest.mark.cluster
def test_node_and_pods_survive_an_apiserver_restart(
    core: client.CoreV1Api, control_plane: ControlPlane, node: SimulatedNode, namespace: str
) -> None:
    node.set_scenario(namespace, Scenario.SUCCESS, hold_running=True, heartbeat_interval=0.2)
    create_build(core, namespace, "before")
    wait_phase(core, namespace, "before", "Running")

    restarted_at = time.time()
    helper = threading.Thread(target=control_plane.restart_apiserver)  # as tests do mid-stream
    helper.start()
    helper.join()
    node.release(namespace, "before")

    wait_phase(core, namespace, "before", "Succeeded")
    node.set_scenario(namespace, Scenario.SUCCESS)
    create_build(core, namespace, "after")  # only runs if the node's pod watch reconnected
    wait_phase(core, namespace, "after", "Succeeded")

    def fresh_heartbeat() -> bool:
        status = core.read_node(node.name).status
        assert status is not None
        assert status.conditions, status
        ready = next(c for c in status.conditions if c.type == "Ready")
        beat = ready.last_heartbeat_time
        return ready.status == "True" and beat is not None and beat.timestamp() >= int(restarted_at)

    wait_for("a Ready heartbeat after the restart", fresh_heartbeat)
    # Started from a thread that has ended, the new apiserver must still be alive.
    assert control_plane.processes["kube-apiserver"].alive()


@pytest.mark.cluster
def test_compact_etcd_makes_a_watch_from_an_old_resource_version_gone(
    core: client.CoreV1Api, control_plane: ControlPlane, namespace: str
) -> None:
    created = core.create_namespaced_config_map(
        namespace,
        {  # type: ignore[arg-type]  # a dict body (see build_pod)
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "counter"},
            "data": {"n": "0"},
        },
    )
    for n in range(1, 4):
        core.patch_namespaced_config_map("counter", namespace, {"data": {"n": str(n)}})

    assert created.metadata is not None
    control_plane.compact_etcd()

    with pytest.raises(ApiException, match=r"^\(410\)") as caught:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=created.metadata.resource_version,
            timeout_seconds=5,
        ):
            pass
    assert caught.value.status == 410


@pytest.mark.cluster
def test_deleting_a_running_pod_removes_it(
    core: client.CoreV1Api, node: SimulatedNode, namespace: str
) -> None:
    node.set_scenario(namespace, Scenario.SUCCESS, hold_running=True)
    create_build(core, namespace, "build")
    wait_phase(core, namespace, "build", "Running")

    core.delete_namespaced_pod(
        "build", namespace
    )  # default grace period: the "kubelet" finishes it

    def gone() -> bool:
        try:
            core.read_namespaced_pod("build", namespace)
        except ApiException as error:
            return bool(error.status == 404)
        return False

    wait_for("the pod to disappear", gone, timeout=15)
    assert node.seen_pod(namespace, "build").exit_codes == {"kaniko": 143}


@pytest.mark.cluster
def test_owned_objects_are_garbage_collected(
    core: client.CoreV1Api, node: SimulatedNode, namespace: str
) -> None:
    pod = create_build(core, namespace, "build")
    owner = {"apiVersion": "v1", "kind": "Pod", "name": "build", "uid": uid_of(pod)}
    core.create_namespaced_config_map(
        namespace,
        {  # type: ignore[arg-type]  # a dict body (see build_pod)
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "owned", "ownerReferences": [owner]},
            "data": {},
        },
    )
    wait_phase(core, namespace, "build", "Succeeded")

    core.delete_namespaced_pod("build", namespace)

    def collected() -> bool:
        names = {
            c.metadata.name for c in core.list_namespaced_config_map(namespace).items if c.metadata
        }
        return "owned" not in names

    wait_for("the garbage collector to delete the owned ConfigMap", collected)


@pytest.mark.cluster
def test_scenario_options_are_checked(node: SimulatedNode) -> None:
    with pytest.raises(TypeError, match="SUCCESS does not take \\['lines'\\]"):
        node.set_scenario("anywhere", Scenario.SUCCESS, lines=3)


@pytest.mark.cluster
def test_startup_failure_raises_with_the_log_tail_and_stops_what_it_started(tmp_path: Path) -> None:
    broken = tmp_path / "kube-apiserver"
    broken.write_text("#!/bin/sh\necho 'simulated apiserver failure' >&2\nexit 3\n")
    broken.chmod(0o755)
    plane = ControlPlane(
        dataclasses.replace(ensure_binaries(), apiserver=broken), tmp_path / "plane"
    )

    with pytest.raises(
        ControlPlaneError, match=r"kube-apiserver exited with 3(.|\n)*simulated apiserver failure"
    ):
        plane.start()

    assert set(plane.processes) == {"etcd", "kube-apiserver"}
    assert all(process.exit_code() is not None for process in plane.processes.values())


# --------------------------------------------------------------------------- offline: the Kaniko simulation


def test_dockerfile_parsing_skips_comments_and_joins_continuations() -> None:
    text = "\n# syntax comment\nFROM a AS b\n\nRUN x && \\\n    y\nENV A B\n"

    assert [i.original for i in parse_dockerfile(text)] == [
        "FROM a AS b",
        "RUN x &&     y",
        "ENV A B",
    ]


def test_executor_args_are_parsed_like_pflag() -> None:
    args = KanikoArgs.parse(
        [
            "-c",
            "/ctx",
            "-f",
            "sub/Dockerfile",
            "-d",
            "r/a:1",
            "--destination=r/b",
            "--cache",
            "--no-push=false",
            "",
            "--digest-file",
            "/dev/termination-log",
        ]
    )

    assert (args.context, args.dockerfile, args.destinations) == (
        "/ctx",
        "sub/Dockerfile",
        ("r/a:1", "r/b"),
    )
    assert (args.cache, args.no_push, args.digest_file) == (True, False, "/dev/termination-log")


@pytest.mark.parametrize(
    ("log_format", "expected"),
    [
        ("color", "\x1b[31mERRO\x1b[0m[0012] " + "boom".ljust(44) + " "),
        ("text", 'time="1970-01-01T00:00:13Z" level=error msg=boom'),
        ("json", '{"level":"error","msg":"boom","time":"1970-01-01T00:00:13Z"}'),
    ],
)
def test_log_line_formats(log_format: str, expected: str) -> None:
    args = KanikoArgs(log_format=log_format)

    assert format_kaniko_line(KanikoLine("ERRO", "boom"), args, started=1.0, now=13.5) == expected
