"""How a build that the cluster stopped from outside is reported: the kernel's out-of-memory
killer (the kubelet's ``OOMKilled``) and eviction by a node short of disk or memory; and an
executor that stopped at startup, before its usage text.

The log lines are the real executor's (``tests/fixtures/kaniko-logs/``); the terminated pod is
written here as a kubelet reports it (the real out-of-memory build is in
``tests/real_executor/test_out_of_memory.py``). Runs without a cluster.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from polymagic.errors import BuildFailed
from polymagic.outcome.pod_reading import build_status, more_memory, pod_fix
from polymagic.outcome.pod_state import PodStateMachine
from polymagic.outcome.text import failure_lines
from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests
from polymagic.render.options import BuildOptions
from polymagic.spec.loader import load_connections
from tests.data import REGISTRY, SEED
from tests.fixtures.kaniko_logs import captured

JsonDict = dict[str, Any]

SLEEP_STEP = "step 6/6 (RUN echo sleeping now && sleep 600)"
KILLED = (
    "error building image: error building stage: failed to execute command: waiting for"
    " process to exit: signal: killed"
)
DISK = (
    "The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available:"
    " 512Mi. Container kaniko was using 6Gi, request is 1Gi, has larger consumption of"
    " ephemeral-storage."
)


def _machine(log: str = "killed", lines: list[str] | None = None) -> PodStateMachine:
    """A machine that read the real ``log`` (or ``lines``) to its end."""
    run = captured(log)
    build = compile_operation(SEED, connections=load_connections(REGISTRY))
    machine = PodStateMachine(
        build_manifests(build, namespace="ml"), BuildOptions(), started=0.0, parser=run.parser()
    )
    feed = run.lines() if lines is None else lines
    machine.log_lines(feed, [float(i) for i in range(len(feed))])
    machine.log_ended(float(len(feed)))
    return machine


def _terminated(
    machine: PodStateMachine,
    *,
    exit_code: int,
    reason: str,
    limit: str | None = None,
    pod_status: JsonDict | None = None,
) -> JsonDict:
    """The pod as the API server shows it once its kubelet reported the executor's end."""
    pod = copy.deepcopy(machine.manifests.pod)
    if limit is not None:
        pod["spec"]["containers"][0].setdefault("resources", {})["limits"] = {"memory": limit}
    state = {"terminated": {"exitCode": exit_code, "reason": reason}}
    pod["status"] = {
        "phase": "Failed",
        **(pod_status or {}),
        "containerStatuses": [{"name": "kaniko", "state": state}],
    }
    return pod


def _failed(machine: PodStateMachine, pod: JsonDict) -> BuildFailed:
    outcome = machine.outcome(pod)
    assert isinstance(outcome, BuildFailed), outcome
    return outcome


def test_executor_killed_at_its_memory_limit_names_the_step_the_limit_and_twice_it() -> None:
    machine = _machine("killed")
    failed = _failed(
        machine, _terminated(machine, exit_code=137, reason="OOMKilled", limit="192Mi")
    )
    assert failed.reason == "OOMKilled"
    assert failed.exit_code == 137
    assert str(failed.failed_step) == SLEEP_STEP
    assert failed.summary == (
        f"build `{machine.name}` ran out of memory at {SLEEP_STEP}: the kernel's out-of-memory"
        " killer stopped it (OOMKilled, the executor exited with code 137)"
    )
    assert failed.fix.startswith(
        "the executor may use at most 192Mi of memory: give it more, e.g. `--memory 384Mi`"
    )


def test_a_run_steps_command_killed_keeps_kanikos_error_line() -> None:
    # Kaniko outlives the command the kernel killed, fails the step with Kaniko's own words for
    # a killed child and exits 255 (as the real one does: tests/real_executor/
    # test_out_of_memory.py); the kubelet still says OOMKilled (its cgroup had an OOM kill).
    lines = captured("run-fails-exit-3").lines()
    lines[-1] = lines[-1].replace("exit status 3", "signal: killed")
    assert KILLED in lines[-1]
    machine = _machine("run-fails-exit-3", lines)
    failed = _failed(machine, _terminated(machine, exit_code=255, reason="OOMKilled", limit="1Gi"))
    assert failed.reason == "OOMKilled"
    assert failed.detail == KILLED
    assert str(failed.failed_step) == "step 7/7 (RUN exit 3)"
    assert "(OOMKilled, the executor exited with code 255): error building image" in failed.summary
    assert "at most 1Gi of memory" in failed.fix
    assert "`--memory 2Gi`" in failed.fix


def test_the_operation_route_of_the_fix_gives_the_pod_that_limit() -> None:
    machine = _machine("killed")
    failed = _failed(machine, _terminated(machine, exit_code=137, reason="OOMKilled", limit="1Gi"))
    patch = failed.fix.split("in the operation `runPatch: ", 1)[1].split("`", 1)[0]
    op = yaml.safe_load(SEED)
    op["runPatch"].update(yaml.safe_load(patch))
    build = compile_operation(yaml.safe_dump(op), connections=load_connections(REGISTRY))
    pod = build_manifests(build, namespace="ml").pod
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"memory": "2Gi"}


def test_the_fix_names_the_forms_memory_limit_in_one_sentence() -> None:
    machine = _machine("killed")
    failed = _failed(machine, _terminated(machine, exit_code=137, reason="OOMKilled", limit="1Gi"))
    assert failed.fix == (
        "the executor may use at most 1Gi of memory: give it more, e.g. `--memory 2Gi` (polymagic"
        " build, %%polybuild), or in the operation `runPatch: {container: {resources: {limits:"
        " {memory: 2Gi}}}}` (the build form's Memory limit; in Python, the resources of"
        " KanikoOptions); what the RUN steps start counts towards that limit, not only Kaniko;"
        " Kaniko itself needs less with `--compressed-caching=false`"
    )
    assert ". " not in failed.fix.replace("e.g. ", "")  # one sentence


def test_without_a_memory_limit_the_node_ran_out() -> None:
    machine = _machine("killed")
    failed = _failed(machine, _terminated(machine, exit_code=137, reason="OOMKilled"))
    assert failed.fix.startswith("the executor has no memory limit, so its node ran out of memory")
    assert "`--memory 4Gi`" in failed.fix


def test_out_of_memory_on_the_terminal_is_the_summary_then_the_fix() -> None:
    machine = _machine("killed")
    failed = _failed(machine, _terminated(machine, exit_code=137, reason="OOMKilled", limit="2G"))
    lines = failure_lines(failed)
    assert lines[0] == f"polymagic: error: {failed.summary}"
    assert lines[1] == f"polymagic: fix: {failed.fix}"
    assert "`--memory 3815Mi`" in failed.fix  # 4e9 bytes, rounded up to whole MiB


def test_eviction_for_disk_says_the_nodes_words_and_how_to_ask_for_room() -> None:
    machine = _machine("killed")
    pod = _terminated(
        machine,
        exit_code=137,
        reason="Error",
        pod_status={"reason": "Evicted", "message": DISK},
    )
    failed = _failed(machine, pod)
    assert failed.reason == "Evicted"
    assert (
        failed.summary
        == f"build `{machine.name}` was evicted from its node at {SLEEP_STEP}: {DISK}"
    )
    assert "ask for room with `resources.requests.ephemeral-storage`" in failed.fix
    assert "polymagic asks for 1Gi unless it is set" in failed.fix


def test_eviction_for_memory_suggests_a_memory_request() -> None:
    machine = _machine("killed")
    said = "The node was low on resource: memory. Container kaniko was using 3Gi."
    pod = _terminated(
        machine, exit_code=137, reason="Error", pod_status={"reason": "Evicted", "message": said}
    )
    failed = _failed(machine, pod)
    assert failed.fix.startswith("the node ran short of memory: give the executor a memory request")


def test_an_eviction_message_is_shown_bounded_and_printable() -> None:
    machine = _machine("killed")
    said = "low on resource: pids\x1b]0;owned\x07 " + "x" * 100_000
    pod = _terminated(
        machine, exit_code=137, reason="Error", pod_status={"reason": "Evicted", "message": said}
    )
    failed = _failed(machine, pod)
    assert len(failed.detail) <= 400
    assert "\x1b" not in failed.detail
    assert "\x07" not in failed.detail
    assert failed.fix.startswith("the node was short of a resource (pids)")


def test_no_step_is_blamed_once_the_image_is_being_pushed() -> None:
    lines = captured("success-with-cache").lines()
    destination = captured("success-with-cache").destinations[0]
    push = next(
        i
        for i, line in enumerate(lines)
        if line.rstrip().endswith(f"Pushing image to {destination}")
    )
    machine = _machine("success-with-cache", lines[: push + 1])
    failed = _failed(machine, _terminated(machine, exit_code=137, reason="OOMKilled", limit="1Gi"))
    assert failed.failed_step is None
    assert failed.summary.startswith(f"build `{machine.name}` ran out of memory: the kernel's")


def test_status_and_list_say_out_of_memory_and_evicted() -> None:
    machine = _machine("killed")
    oom = _terminated(machine, exit_code=255, reason="OOMKilled", limit="1Gi")
    assert build_status(oom).detail == "out of memory (OOMKilled), exit code 255"
    evicted = _terminated(
        machine, exit_code=137, reason="Error", pod_status={"reason": "Evicted", "message": DISK}
    )
    assert build_status(evicted).detail == "evicted: its node was low on ephemeral-storage"
    assert build_status(evicted).phase == "Failed"
    plain = _terminated(machine, exit_code=3, reason="Error")
    assert build_status(plain).detail == "exit code 3"


@pytest.mark.parametrize(
    ("limit", "twice"),
    [
        ("192Mi", "384Mi"),
        ("1Gi", "2Gi"),
        ("1.5Gi", "3Gi"),
        ("500M", "954Mi"),
        ("128974848", "246Mi"),
        ("3G", "5723Mi"),
        ("lots", None),
        ("1e9", "1908Mi"),
        ("512e6", "977Mi"),
        ("-1Gi", None),
    ],
)
def test_more_memory_doubles_a_quantity(limit: str, twice: str | None) -> None:
    assert more_memory(limit) == twice


# The executor's command line on a startup error (as the real one prints it with a read-only
# root: tests/real_executor/test_security_context.py): the error, then its usage, whose flag
# lines say `error` too.
STARTUP_ERROR = (
    "error resolving dockerfile path: copying dockerfile: creating file:"
    " open /kaniko/Dockerfile: read-only file system"
)
USAGE = [
    f"Error: {STARTUP_ERROR}",
    "Usage:",
    "  executor [flags]",
    "  executor [command]",
    "",
    "Flags:",
    "      --cache                    Use cache when building image",
    "  -v, --verbosity string         Log level (trace, debug, info, warn, error, fatal, panic)"
    ' (default "info")',
]


def test_a_startup_error_is_the_error_not_the_last_line_of_the_usage() -> None:
    machine = _machine("killed", USAGE)
    failed = _failed(machine, _terminated(machine, exit_code=1, reason="Error"))
    assert failed.detail == STARTUP_ERROR
    assert failed.summary.endswith(f"(Error): {STARTUP_ERROR}")


def test_a_startup_error_in_the_termination_message_alone_is_found_too() -> None:
    machine = _machine("killed", [])  # the log was never read: only the kubelet's message
    pod = _terminated(machine, exit_code=1, reason="Error")
    pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"] = "\n".join(USAGE)
    failed = _failed(machine, pod)
    assert failed.detail == STARTUP_ERROR


@pytest.mark.parametrize(
    ("message", "fix"),
    [
        ('secret "registry" not found', "refers to something missing (a secret or config map key)"),
        ("couldn't find key token in ConfigMap ml/settings", "refers to something missing"),
        (
            "container has runAsNonRoot and image will run as root (pod: b, container: kaniko)",
            "remove `runAsNonRoot`",
        ),
        ('failed to load seccomp profile "profiles/x.json"', "cannot apply the seccomp profile"),
        ("something else entirely", "check the operation's `environment.securityContext`"),
    ],
    ids=["secret", "configmap-key", "run-as-non-root", "seccomp", "other"],
)
def test_a_container_config_error_gets_the_fix_its_message_calls_for(
    message: str, fix: str
) -> None:
    build = compile_operation(SEED, connections=load_connections(REGISTRY))
    manifests = build_manifests(build, namespace="ml")
    assert fix in pod_fix("CreateContainerConfigError", message, manifests)


def test_a_container_error_about_a_seccomp_profile_gets_the_seccomp_fix() -> None:
    build = compile_operation(SEED, connections=load_connections(REGISTRY))
    manifests = build_manifests(build, namespace="ml")
    # containerd's words for a Localhost profile the node does not have.
    lacking = (
        "failed to generate security options for container: failed to generate seccomp spec"
        ' opts: cannot load seccomp profile "/var/lib/kubelet/seccomp/x.json": no such file'
    )
    assert pod_fix("CreateContainerError", lacking, manifests).startswith(
        "the node cannot apply the seccomp profile"
    )
    assert pod_fix("CreateContainerError", "context deadline exceeded", manifests) == (
        "see the events below"
    )
