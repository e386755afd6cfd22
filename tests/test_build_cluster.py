"""Building against the real kube-apiserver, with the simulated kubelet playing Kaniko.

The build calls go through ``tests.replay.recorder.RecordingCluster`` (``record``): with
``POLYMAGIC_RECORD_API_TRAFFIC=1`` (``python -m tests.replay.record``) the tests that name a
scenario save their traffic under ``tests/fixtures/api-traffic/``, which ``tests/replay/``
replays without a cluster. CI never sets it: the recorded traffic changes only on request.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from polymagic.errors import (
    BuildCancelled,
    BuildFailed,
    BuildTimeout,
    ClusterConfigError,
    PreflightError,
)
from polymagic.kube.client import Cluster, connect
from polymagic.kube.session import BuildOptions, build_image, cancel_build, find_builds, start_build
from polymagic.outcome.events import EventKind, ProgressEvent
from polymagic.outcome.kaniko_log import KanikoLogParser
from polymagic.render.build_objects import CONTAINER_NAME, LABEL_MANAGED_BY
from polymagic.render.compiler import compile_operation
from polymagic.spec.loader import load_connections
from tests.cluster import admin
from tests.cluster.simulated_node import Scenario, SeenPod, SimulatedNode
from tests.data import SEED
from tests.replay.recorder import RecordingCluster
from tests.replay.tape import TAPES, Tape

pytestmark = pytest.mark.cluster

CATALOG = [
    {
        "name": "docker-connection",
        "kind": "registry",
        "schema": {"url": "registry.example.com/org"},
        "secret": {"name": "regcred", "mountPath": "/kaniko/.docker"},
    }
]
FAST = BuildOptions(timeout=120, start_timeout=60, stuck_grace=3, watch_timeout=2)
RECORDING = os.environ.get("POLYMAGIC_RECORD_API_TRAFFIC") == "1"
Record = Callable[..., RecordingCluster]


@pytest.fixture
def cluster(admin_kubeconfig: Path, namespace: str, sim_node: SimulatedNode) -> Iterator[Cluster]:
    connected = connect(admin_kubeconfig, namespace=namespace)
    yield connected
    connected.close()


@pytest.fixture
def record() -> Record:
    """Wrap a connection in a recorder: ``record(cluster, FAST, "success")``."""

    def wrap(
        cluster: Cluster, options: BuildOptions = FAST, scenario: str = "unnamed"
    ) -> RecordingCluster:
        followed = {
            "timeout": options.timeout,
            "start_timeout": options.start_timeout,
            "stuck_grace": options.stuck_grace,
            "log_idle_timeout": options.log_idle_timeout,
            "log_tail": options.log_tail,
            "watch_timeout": options.watch_timeout,
        }
        return RecordingCluster(cluster, Tape(scenario, options=followed))

    return wrap


def _keep(api: RecordingCluster, notes: str) -> None:
    """Save the traffic of a test that passed, when re-recording was asked for."""
    if RECORDING:
        api.tape.notes = notes
        api.tape.save(TAPES / f"{api.tape.scenario}.json")


def _secret(cluster: Cluster, name: str = "regcred", docker_registry: bool = True) -> None:
    config = base64.b64encode(
        json.dumps({"auths": {"registry.example.com": {"auth": "eDp5"}}}).encode()
    ).decode()
    body: Any = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson" if docker_registry else "Opaque",
        "data": {".dockerconfigjson" if docker_registry else "config.json": config},
    }
    admin.core(cluster).create_namespaced_secret(cluster.namespace, body)


def _build(seed: str = SEED, params: list[str] | None = None):  # type: ignore[no-untyped-def]
    return compile_operation(seed, params=params or [], connections=load_connections(CATALOG))


def _leftovers(cluster: Cluster) -> list[str]:
    selector = f"{LABEL_MANAGED_BY}=polymagic"
    pods = cluster.list_pods(cluster.namespace, selector)
    maps = cluster.list_config_maps(cluster.namespace, selector)
    alive = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    return [f"pod/{p['metadata']['name']}" for p in alive] + [
        f"configmap/{m['metadata']['name']}" for m in maps
    ]


def test_success_reports_steps_and_the_digest(cluster: Cluster, record: Record) -> None:
    _secret(cluster)
    api = record(cluster, FAST, "success")
    events: list[ProgressEvent] = []
    result = build_image(api, _build(), FAST, on_event=events.append)
    kinds = [e.kind for e in events]
    assert kinds[-1] is EventKind.SUCCEEDED
    assert EventKind.SCHEDULED in kinds
    assert EventKind.RETRIEVING_BASE in kinds
    steps = [e for e in events if e.kind is EventKind.STEP]
    assert [(s.step, s.total) for s in steps] == [(i, 6) for i in range(1, 7)]
    assert steps[-1].instruction == "RUN pip3 install --no-cache-dir -U polyaxon"
    assert result.image.startswith("registry.example.com/org/polyaxon/polyaxon-quick-start@sha256:")
    assert result.digest in result.image
    assert not any("\x1b[" in e.message for e in events)
    assert _leftovers(cluster) == []
    _keep(api, "the quick start builds and pushes: six steps, the digest")


def test_run_failure_carries_exit_code_and_kaniko_error(
    cluster: Cluster, sim_node: SimulatedNode, record: Record
) -> None:
    _secret(cluster)
    sim_node.set_scenario(cluster.namespace, Scenario.RUN_FAILS)
    api = record(cluster, FAST, "run-fails")
    with pytest.raises(BuildFailed) as caught:
        build_image(api, _build(), FAST)
    message = str(caught.value)
    assert "exited with code 3" in message  # the RUN's status, as Kaniko exits
    assert "error building image: error building stage" in message
    assert caught.value.exit_code == 3
    assert caught.value.failed_step is not None
    assert caught.value.failed_step.instruction.startswith("RUN ")
    assert caught.value.log_tail
    assert _leftovers(cluster) == []
    _keep(api, "the first RUN exits 3: the executor exits 3 with Kaniko's error line")


def test_image_pull_failure_fails_fast_with_a_fix(
    cluster: Cluster, sim_node: SimulatedNode, record: Record
) -> None:
    _secret(cluster)
    sim_node.set_scenario(cluster.namespace, Scenario.IMAGE_PULL_FAILS)
    api = record(cluster, FAST, "image-pull-backoff")
    started = time.monotonic()
    with pytest.raises(BuildFailed, match="cannot be pulled") as caught:
        build_image(api, _build(), FAST)
    assert time.monotonic() - started < 30
    assert caught.value.reason in ("ImagePullBackOff", "ErrImagePull")
    assert "cannot be pulled" in caught.value.fix
    assert _leftovers(cluster) == []
    _keep(api, "the executor image never pulls: ErrImagePull / ImagePullBackOff")


def test_missing_secret_is_caught_by_preflight(cluster: Cluster, record: Record) -> None:
    api = record(cluster, FAST, "missing-secret-preflight")
    with pytest.raises(PreflightError, match="secret `regcred` not found in namespace") as caught:
        start_build(api, _build(), FAST)
    assert caught.value.reason == "SecretNotFound"
    assert _leftovers(cluster) == []
    _keep(api, "the registry secret does not exist, and the admin may read secrets")


def test_interrupt_mid_build_deletes_everything(
    cluster: Cluster, sim_node: SimulatedNode, record: Record
) -> None:
    _secret(cluster)
    sim_node.set_scenario(cluster.namespace, Scenario.SUCCESS, hold_running=True)
    api = record(cluster, FAST, "cancel")
    session = start_build(api, _build(), FAST)
    seen: list[EventKind] = []

    def follow_and_cancel_at_step_3() -> None:
        for event in session.events():
            seen.append(event.kind)
            if event.kind is EventKind.STEP and event.step == 3:
                threading.Thread(target=session.cancel).start()

    with pytest.raises(BuildCancelled):
        follow_and_cancel_at_step_3()
    assert EventKind.CANCELLED in seen
    assert _leftovers(cluster) == []
    _keep(api, "cancelled from another thread at step 3 of a build held running")


def test_an_evicted_build_says_what_its_node_ran_short_of(
    cluster: Cluster, sim_node: SimulatedNode
) -> None:
    # Eviction cannot happen for real here (no eviction manager): the simulated node evicts
    # the held pod as a kubelet does, and the session must report it, not a bare exit 137.
    low_on_disk = (
        "The node was low on resource: ephemeral-storage. Container kaniko was using 6Gi,"
        " which exceeds its request of 1Gi."
    )
    _secret(cluster)
    sim_node.set_scenario(cluster.namespace, Scenario.SUCCESS, hold_running=True)
    session = start_build(cluster, _build(), FAST)

    def follow_and_evict_once_held() -> None:
        for event in session.events():
            if event.kind is EventKind.LOG and "held by the simulated node" in event.message:
                sim_node.evict(cluster.namespace, session.name, low_on_disk)

    with pytest.raises(BuildFailed) as caught:
        follow_and_evict_once_held()
    failed = caught.value
    assert failed.reason == "Evicted"
    assert failed.exit_code == 137
    assert failed.detail == low_on_disk
    assert str(failed).startswith(
        f"build `{session.name}` was evicted from its node at step 6/6 (RUN pip3 install"
    )
    assert "ask for room with `resources.requests.ephemeral-storage`" in failed.fix
    deadline = time.monotonic() + 20
    while _leftovers(cluster) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _leftovers(cluster) == []


def test_find_and_cancel_by_name_from_a_new_connection(
    cluster: Cluster, sim_node: SimulatedNode, admin_kubeconfig: Path
) -> None:
    _secret(cluster)
    sim_node.set_scenario(cluster.namespace, Scenario.SUCCESS, hold_running=True)
    session = start_build(cluster, _build(), FAST)
    other = connect(admin_kubeconfig, namespace=cluster.namespace)
    try:
        found = find_builds(other, cluster.namespace)
        assert [b.name for b in found] == [session.name]
        assert cancel_build(other, session.name) is True
    finally:
        other.close()
    deadline = time.monotonic() + 20
    while _leftovers(cluster) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _leftovers(cluster) == []


def test_manifests_are_accepted_by_the_real_apiserver(cluster: Cluster) -> None:
    op = yaml.safe_load(SEED)
    op["runPatch"]["init"][0]["dockerfile"]["filename"] = "Dockerfile.gpu"
    op["termination"] = {"timeout": 90}  # shorter than FAST.timeout (120): it wins
    op["runPatch"]["environment"] = {"nodeSelector": {"pool": "build"}, "labels": {"team": "ml"}}
    _secret(cluster)
    session = start_build(cluster, _build(yaml.safe_dump(op)), FAST)
    pod = cluster.read_pod(cluster.namespace, session.name)
    assert pod["spec"]["activeDeadlineSeconds"] == 90
    assert "--dockerfile=Dockerfile.gpu" in pod["spec"]["containers"][0]["args"]
    config_map = cluster.read_config_map(cluster.namespace, session.name)
    assert config_map["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
    session.cancel()
    assert _leftovers(cluster) == []


def test_rbac_forbidden_user_gets_one_actionable_message(
    user_kubeconfig: Path,
    admin_kubeconfig: Path,
    namespace: str,
    sim_node: SimulatedNode,
    record: Record,
) -> None:
    alice = connect(user_kubeconfig, namespace=namespace)
    api = record(alice, FAST, "forbidden")
    try:
        with pytest.raises(PreflightError, match="may not run builds") as caught:
            start_build(api, _build(), FAST)
        assert "create pods" in str(caught.value)
        assert caught.value.reason == "Forbidden"
    finally:
        alice.close()
    admin = connect(admin_kubeconfig, namespace=namespace)
    try:
        assert _leftovers(admin) == []
    finally:
        admin.close()
    _keep(api, "a user without RBAC rights in the namespace")


def _grant_builder_rights(cluster: Cluster, user: str = "alice") -> None:
    """A Role with what a build needs, but not reading secrets."""
    rbac = admin.rbac(cluster)
    rules = [
        {
            "apiGroups": [""],
            "resources": ["pods", "configmaps"],
            "verbs": ["create", "get", "list", "watch", "delete", "patch"],
        },
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
    ]
    rbac.create_namespaced_role(
        cluster.namespace, {"metadata": {"name": "builder"}, "rules": rules}
    )
    rbac.create_namespaced_role_binding(
        cluster.namespace,
        {
            "metadata": {"name": "builder"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "builder"},
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
        },
    )


def test_missing_secret_seen_as_failed_mount_when_secrets_are_unreadable(
    cluster: Cluster, user_kubeconfig: Path, record: Record
) -> None:
    _grant_builder_rights(cluster)
    alice = connect(user_kubeconfig, namespace=cluster.namespace)
    admin.wait_until_builds_allowed(alice)
    api = record(alice, FAST, "missing-secret-mount")
    try:
        with pytest.raises(BuildFailed) as caught:
            build_image(api, _build(), FAST)
    finally:
        alice.close()
    message = str(caught.value)
    assert "FailedMount" in message
    assert "secret `regcred` not found" in message
    assert caught.value.reason == "FailedMount"
    assert any(e.reason == "FailedMount" for e in caught.value.events)
    assert _leftovers(cluster) == []
    _keep(api, "the secret is missing and may not be read: the pod's mount fails (FailedMount)")


def test_unschedulable_pod_fails_with_the_reason(cluster: Cluster, record: Record) -> None:
    _secret(cluster)
    op = yaml.safe_load(SEED)
    op["runPatch"]["environment"] = {"nodeSelector": {"pool": "nowhere"}}
    api = record(cluster, FAST, "unschedulable")
    with pytest.raises(BuildFailed, match="no node can run the build pod") as caught:
        build_image(api, _build(yaml.safe_dump(op)), FAST)
    assert caught.value.reason in ("Unschedulable", "FailedScheduling")
    assert _leftovers(cluster) == []
    _keep(api, "a nodeSelector no node matches")


def test_slow_start_then_success(cluster: Cluster, sim_node: SimulatedNode, record: Record) -> None:
    _secret(cluster)
    sim_node.set_scenario(cluster.namespace, Scenario.SLOW_START, seconds=4)
    api = record(cluster, FAST, "slow-start")
    assert "@sha256:" in build_image(api, _build(), FAST).image
    assert _leftovers(cluster) == []
    _keep(api, "the executor image takes 4 s to pull, then the build succeeds")


def test_pod_start_deadline_names_the_deadline(
    cluster: Cluster, sim_node: SimulatedNode, record: Record
) -> None:
    _secret(cluster)
    sim_node.set_scenario(cluster.namespace, Scenario.SLOW_START, seconds=30)
    options = replace(FAST, start_timeout=4)
    api = record(cluster, options, "start-deadline")
    started = time.monotonic()
    with pytest.raises(BuildTimeout, match="hit the pod start deadline") as caught:
        build_image(api, _build(), options)
    assert 4 <= time.monotonic() - started < 20
    assert (caught.value.deadline, caught.value.limit) == ("pod start", 4)
    assert _leftovers(cluster) == []
    _keep(api, "the executor image takes 30 s to pull; the pod-start deadline is 4 s")


def test_flood_of_log_lines_keeps_a_bounded_tail(cluster: Cluster, sim_node: SimulatedNode) -> None:
    _secret(cluster)
    sim_node.set_scenario(cluster.namespace, Scenario.FLOOD, lines=20000)
    session = start_build(cluster, _build(), FAST)
    kinds = [e.kind for e in session.events()]
    assert kinds[-1] is EventKind.SUCCEEDED
    assert session.parser.lines > 20000
    assert len(session.parser.tail) == FAST.log_tail
    assert session.result is not None
    assert session.result.log_tail[-1].startswith("INFO[")
    assert _leftovers(cluster) == []


# Any C0/C1 control but tab and line end: what must never reach a terminal from a build's log.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
LONG_LINE = 32 << 20
MAX_LINE = (
    16 * 1024
)  # what the log follower keeps of one line (polymagic.outcome.log_lines.MAX_LINE)


def _pod_of(sim_node: SimulatedNode, namespace: str) -> SeenPod:
    (seen,) = [p for p in sim_node.seen_pods if p.namespace == namespace]
    return seen


def test_hostile_build_output_is_shown_safely_and_the_build_goes_on(
    cluster: Cluster, sim_node: SimulatedNode
) -> None:
    """A RUN step prints JSON nested thousands deep, terminal control and a 32 MiB line: the
    build still ends with the executor's digest, its pod ran to the end (not deleted early, which
    would kill it with 143), and every line was shown sanitised and cut."""
    _secret(cluster)
    sim_node.set_scenario(cluster.namespace, Scenario.HOSTILE_OUTPUT, long_line=LONG_LINE)
    events: list[ProgressEvent] = []
    result = build_image(cluster, _build(), FAST, on_event=events.append)
    seen = _pod_of(sim_node, cluster.namespace)
    assert result.digest == seen.digest
    assert seen.exit_codes == {CONTAINER_NAME: 0}
    logs = [e.message for e in events if e.kind is EventKind.LOG]
    assert "x" * MAX_LINE + "… [truncated 32.0 MiB]" in logs
    assert '{"level":"info","msg":' + "[" * (MAX_LINE - 22) + "… [truncated 3.6 KiB]" in logs
    assert "reset and cursor" in "".join(logs)
    assert "invalid utf-8: \ufffd\ufffd\ufffd" in logs
    assert [e.message for e in events if UNSAFE.search(e.message)] == []
    assert max(len(line) for line in logs) < MAX_LINE + 64
    assert _leftovers(cluster) == []


def test_a_line_the_parser_cannot_read_is_shown_raw_and_the_build_goes_on(
    cluster: Cluster, sim_node: SimulatedNode
) -> None:
    """Whatever reading one line raises (here a stand-in for a parser bug, injected where a
    future one would sit), the line is shown and the build ends as the pod says."""

    class Failing(KanikoLogParser):
        def feed_lines(
            self, lines: Sequence[str], at: float | Sequence[float] | None = None
        ) -> list[ProgressEvent]:
            if any("reset and cursor" in raw for raw in lines):
                raise RecursionError("maximum recursion depth exceeded")
            return super().feed_lines(lines, at)

    _secret(cluster)
    sim_node.set_scenario(cluster.namespace, Scenario.HOSTILE_OUTPUT, long_line=10)
    session = start_build(cluster, _build(), FAST)
    session.state.parser = Failing(session.manifests.steps, tail=FAST.log_tail)
    events = list(session.events())
    assert events[-1].kind is EventKind.SUCCEEDED
    shown = [e.message for e in events if e.kind is EventKind.LOG and "cursor" in e.message]
    assert shown == [" reset and cursor"]
    assert _pod_of(sim_node, cluster.namespace).exit_codes == {CONTAINER_NAME: 0}
    assert _leftovers(cluster) == []


def test_the_command_line_prints_hostile_build_output_safely(
    cluster: Cluster, sim_node: SimulatedNode, admin_kubeconfig: Path, tmp_path: Path
) -> None:
    """`polymagic build` writes a hostile log to stderr, and `polymagic logs` to stdout, with no
    control character left but tab and line ends; the build still prints the pushed reference."""
    _secret(cluster)
    sim_node.set_scenario(cluster.namespace, Scenario.HOSTILE_OUTPUT, long_line=1 << 20)
    (tmp_path / "op.yaml").write_text(SEED)
    (tmp_path / "connections.yaml").write_text(yaml.safe_dump(CATALOG))
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYMAGIC_")}
    env["KUBECONFIG"] = str(admin_kubeconfig)

    def polymagic(*args: str) -> tuple[int, str, str]:
        done = subprocess.run(
            [sys.executable, "-m", "polymagic", *args, "--namespace", cluster.namespace],
            env=env, capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        # Strict decoding: what was printed is valid UTF-8.
        return done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8")

    code, out, err = polymagic(
        "build", str(tmp_path / "op.yaml"), "--connections", str(tmp_path / "connections.yaml"),
        "--keep",
    )  # fmt: skip
    assert code == 0, err[-2000:]
    seen = _pod_of(sim_node, cluster.namespace)
    assert out.strip().endswith(f"@{seen.digest}")
    code, logs, _ = polymagic("logs", seen.name)
    assert code == 0
    for printed in (err, logs):
        assert "reset and cursor" in printed
        assert "\\x07 bell" in printed
        assert "x" * MAX_LINE + "… [truncated 1008.0 KiB]" in printed
        assert UNSAFE.findall(printed) == []
    assert cancel_build(cluster, seen.name)


def test_apiserver_killed_and_restarted_mid_build(
    cluster: Cluster, sim_node: SimulatedNode, control_plane: Any, record: Record
) -> None:
    _secret(cluster)
    sim_node.set_scenario(cluster.namespace, Scenario.SUCCESS, hold_running=True)
    api = record(cluster, FAST, "api-restart")
    session = start_build(api, _build(), FAST)
    restarted = threading.Event()

    def restart_then_release() -> None:
        control_plane.restart_apiserver()
        restarted.set()
        time.sleep(1)
        sim_node.release(cluster.namespace)

    events = []
    for event in session.events():
        events.append(event)
        if event.kind is EventKind.STEP and event.step == 2 and not restarted.is_set():
            threading.Thread(target=restart_then_release, daemon=True).start()
    assert restarted.is_set()
    assert events[-1].kind is EventKind.SUCCEEDED
    steps = [e.step or 0 for e in events if e.kind is EventKind.STEP]
    assert steps == sorted(set(steps))  # no step lost or repeated across the restart
    assert session.result is not None
    assert "@sha256:" in session.result.image
    assert _leftovers(cluster) == []
    dropped = [c for c in api.tape.calls if c.error and c.error["type"] == "ClusterError"]
    assert dropped  # the restart was seen, and got over
    _keep(api, "the API server is killed and restarted at step 2 of a build held running")


def test_watch_expiry_is_resumed_without_losing_the_outcome(
    cluster: Cluster, sim_node: SimulatedNode, control_plane: Any, record: Record
) -> None:
    _secret(cluster)
    sim_node.set_scenario(cluster.namespace, Scenario.SLOW_START, seconds=8)
    api = record(cluster, FAST, "watch-expiry")
    session = start_build(api, _build(), FAST)

    def compact_repeatedly() -> None:
        # Bump the revision past the pod's, then compact, a few times while the pod waits:
        # a watch resumed from the pod's version after that gets 410 Gone from the server.
        for index in range(8):
            admin.core(cluster).create_namespaced_config_map(
                cluster.namespace, {"metadata": {"name": f"bump-{index}"}}
            )
            control_plane.compact_etcd()
            time.sleep(0.7)

    compactor = threading.Thread(target=compact_repeatedly, daemon=True)
    for event in session.events():
        if event.kind is EventKind.PULLING_EXECUTOR and compactor.ident is None:
            compactor.start()
    compactor.join()
    expired = [c for c in api.tape.of("watch_pod") if c.error and c.error["type"] == "WatchExpired"]
    assert len(expired) >= 1  # the real server's 410 Gone
    assert session.result is not None
    assert "@sha256:" in session.result.image
    assert _leftovers(cluster) == []
    _keep(api, "etcd is compacted past the pod's version while it waits: watches get 410 Gone")


def test_two_identical_builds_share_one_pod(cluster: Cluster, sim_node: SimulatedNode) -> None:
    _secret(cluster)
    sim_node.set_scenario(cluster.namespace, Scenario.SUCCESS, hold_running=True)
    first = start_build(cluster, _build(), FAST)
    second = start_build(cluster, _build(), FAST)
    assert second.attached_to_existing
    assert second.name == first.name
    results: dict[str, Any] = {}

    def follow(key: str, session: Any) -> None:
        results[key] = [e.kind for e in session.events()]

    threads = [
        threading.Thread(target=follow, args=(k, s))
        for k, s in (("first", first), ("second", second))
    ]
    for thread in threads:
        thread.start()
    time.sleep(2)
    sim_node.release(cluster.namespace)
    for thread in threads:
        thread.join(60)
    assert results["first"][-1] is EventKind.SUCCEEDED
    assert results["second"][-1] is EventKind.SUCCEEDED
    assert first.result is not None
    assert second.result is not None
    assert first.result.digest == second.result.digest
    assert len([p for p in sim_node.seen_pods if p.namespace == cluster.namespace]) == 1
    assert _leftovers(cluster) == []


def test_copy_build_ships_the_local_files(
    cluster: Cluster, sim_node: SimulatedNode, tmp_path: Path
) -> None:

    from polymagic.errors import SpecError
    from polymagic.render.context import pack_build_context
    from polymagic.render.manifests import build_manifests

    _secret(cluster)
    (tmp_path / "requirements.txt").write_text("numpy\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('hi')\n")
    (tmp_path / "src" / "cache.pyc").write_bytes(b"\0")
    (tmp_path / ".dockerignore").write_text("**/*.pyc\n")
    op = yaml.safe_load(SEED)
    op["runPatch"]["init"][0]["dockerfile"]["copy"] = ["requirements.txt", ["src", "/app/src"]]
    build = _build(yaml.safe_dump(op))
    result = build_image(cluster, build, replace(FAST, context_dir=tmp_path))
    seen = sim_node.seen_pods[-1]
    files = next(iter(seen.context_files.values()))
    assert {"Dockerfile", "requirements.txt", "src/app.py"} <= set(files)
    assert "src/cache.pyc" not in files
    # The same files give the same spec hash (and a change gives another one).
    again = build_manifests(build, context=pack_build_context(build, tmp_path))
    assert again.spec_hash == result.spec_hash
    (tmp_path / "src" / "app.py").write_text("print('changed')\n")
    assert (
        build_manifests(build, context=pack_build_context(build, tmp_path)).spec_hash
        != result.spec_hash
    )
    # A missing source is an error before anything is created.
    (tmp_path / "requirements.txt").unlink()
    with pytest.raises(SpecError, match=r"COPY source `requirements\.txt` not found"):
        start_build(cluster, build, replace(FAST, context_dir=tmp_path))
    assert _leftovers(cluster) == []


def test_in_cluster_login_with_a_service_account(
    cluster: Cluster, control_plane: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook running in a pod: no kubeconfig, the service account's mounted token and CA."""
    import base64 as b64
    from urllib.parse import urlparse

    core = admin.core(cluster)
    core.create_namespaced_service_account(cluster.namespace, {"metadata": {"name": "notebook"}})
    deadline = time.monotonic() + 30
    secret_name = None
    while secret_name is None and time.monotonic() < deadline:
        account = core.read_namespaced_service_account("notebook", cluster.namespace)
        secret_name = account.secrets[0].name if account.secrets else None
        time.sleep(0.2)
    assert secret_name is not None
    token_data = core.read_namespaced_secret(secret_name, cluster.namespace).data or {}
    (tmp_path / "token").write_bytes(b64.b64decode(token_data["token"]))
    (tmp_path / "ca.crt").write_bytes(b64.b64decode(token_data["ca.crt"]))
    (tmp_path / "namespace").write_text(cluster.namespace)
    rbac = admin.rbac(cluster)
    binding: Any = {
        "metadata": {"name": "notebook-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "notebook", "namespace": cluster.namespace}],
    }  # fmt: skip
    rbac.create_namespaced_role_binding(cluster.namespace, binding)
    server = urlparse(control_plane.server_url)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", str(server.hostname))
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    _secret(cluster)
    in_pod = connect(service_account_dir=tmp_path)
    try:
        assert in_pod.source == "in-cluster service account"
        assert in_pod.namespace == cluster.namespace
        assert "@sha256:" in build_image(in_pod, _build(), FAST).image
    finally:
        in_pod.close()
    assert _leftovers(cluster) == []
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    with pytest.raises(ClusterConfigError, match="no Kubernetes cluster is configured"):
        connect()
