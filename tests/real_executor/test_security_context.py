"""The build pod's ``securityContext`` applied by the test node's real runtime: builds under
the runtime's default seccomp profile (polymagic's ``RuntimeDefault``), a syscall that profile
refuses failing the RUN step that makes it (and passing ``Unconfined``), ``Localhost`` as a
CreateContainerConfigError, ``allowPrivilegeEscalation``, ``capabilities`` and ``runAsGroup``
reaching the RUN step's process, ``readOnlyRootFilesystem`` stopping the executor; and the
translation of a Docker-format profile into the OCI spec's ``linux.seccomp`` on small
hand-made profiles.

The refused syscall: busybox's ``linux64 -R`` calls ``personality(PER_LINUX |
ADDR_NO_RANDOMIZE)``, 0x40000. The default profile allows ``personality`` only for five
argument values (0, 8, 0x20000, 0x20008, 0xffffffff), so this call takes the profile's
default action, ``ENOSYS``: had the rules' ``args`` been dropped, it would pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from polymagic.errors import BuildFailed
from tests.cluster.runc_runtime import (
    DEFAULT_CAPABILITIES,
    DEFAULT_SECCOMP_PROFILE,
    ContainerConfigError,
    RuncEngine,
    Seccomp,
    container_capabilities,
    effective_seccomp,
    kernel_release,
    oci_seccomp,
    process_user,
)
from tests.real_executor.helpers import build_in, finished_run, leftovers, op_running
from tests.registry.server import RegistryServer
from tests.tiers import unavailable

REFUSED_RUN = "linux64 -R true"
"""``personality(0x40000)``: refused by the runtime's default profile, fine without one."""
ENOSYS_LINE = "linux64: personality(0x40000): Function not implemented"
"""What busybox prints when the profile's default action (ENOSYS) answers the call."""


def _op(
    registry: RegistryServer,
    destination: str,
    run: list[str],
    *,
    pod_context: dict[str, Any] | None = None,
    container_context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    op = op_running(registry, destination, run)
    if pod_context is not None:
        op["runPatch"]["environment"] = {"securityContext": pod_context}
    if container_context is not None:
        op["runPatch"]["container"] = {"securityContext": container_context}
    return op


def _build(kubeconfig: Path, namespace: str, op: dict[str, Any], registry: RegistryServer) -> Any:
    return build_in(kubeconfig, namespace, op, registry, stuck_grace=3)


# --------------------------------------------------------------------------- real builds


@pytest.mark.cluster
@pytest.mark.real_executor
def test_runtime_default_refuses_a_syscall_and_the_error_names_the_run_step(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    runc_engine: RuncEngine,
) -> None:
    op = _op(plain_registry, "seccomp/refused", ["echo before the call", REFUSED_RUN])
    with pytest.raises(BuildFailed, match="exit status 1") as caught:
        _build(admin_kubeconfig, real_namespace, op, plain_registry)
    run = finished_run(runc_engine, real_namespace)
    assert run.pod.pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ENOSYS_LINE in run.state.log.lines()
    message = str(caught.value)
    assert f"failed at step 7/7 (RUN {REFUSED_RUN})" in message, message
    assert "exit status 1" in message, message
    # The user sees the refused call in the log tail the error carries.
    assert ENOSYS_LINE in caught.value.log_tail, caught.value.log_tail
    assert leftovers(admin_kubeconfig, real_namespace) == []
    assert runc_engine.leftovers() == []


@pytest.mark.cluster
@pytest.mark.real_executor
def test_the_same_step_builds_unconfined(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    runc_engine: RuncEngine,
) -> None:
    op = _op(
        plain_registry,
        "seccomp/unconfined",
        [REFUSED_RUN, "grep Seccomp: /proc/self/status"],
        pod_context={"seccompProfile": {"type": "Unconfined"}},
    )
    result = _build(admin_kubeconfig, real_namespace, op, plain_registry)
    assert result.digest.startswith("sha256:")
    run = finished_run(runc_engine, real_namespace)
    # The operation's securityContext wins over polymagic's default: no filter at all (mode 0).
    assert run.pod.pod["spec"]["securityContext"]["seccompProfile"] == {"type": "Unconfined"}
    assert "Seccomp:\t0" in run.state.log.lines()
    assert leftovers(admin_kubeconfig, real_namespace) == []


@pytest.mark.cluster
@pytest.mark.real_executor
def test_privileges_and_capabilities_reach_the_run_step(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    runc_engine: RuncEngine,
) -> None:
    """``allowPrivilegeEscalation: false`` sets no_new_privs; ``SYS_ADMIN`` added both grants
    the capability and lets the default profile allow ``sethostname`` (its rule for it needs
    that capability); ``NET_RAW`` dropped is gone from the bounding set."""
    op = _op(
        plain_registry,
        "seccomp/capabilities",
        ["grep -E '^(NoNewPrivs|Seccomp|CapBnd):' /proc/self/status", "hostname renamed"],
        container_context={
            "allowPrivilegeEscalation": False,
            "capabilities": {"add": ["SYS_ADMIN"], "drop": ["NET_RAW"]},
        },
    )
    # An added capability widens what the build can reach: polymagic refuses it unless allowed.
    result = build_in(
        admin_kubeconfig,
        real_namespace,
        op,
        plain_registry,
        stuck_grace=3,
        allowed_pod_fields=("capabilities",),
    )
    assert result.digest.startswith("sha256:")
    lines = finished_run(runc_engine, real_namespace).state.log.lines()
    assert "NoNewPrivs:\t1" in lines
    assert "Seccomp:\t2" in lines  # filtered: RuntimeDefault, polymagic's default
    bounding = int(next(line for line in lines if line.startswith("CapBnd:")).split()[1], 16)
    assert bounding & (1 << 21)  # CAP_SYS_ADMIN
    assert not bounding & (1 << 13)  # CAP_NET_RAW
    assert leftovers(admin_kubeconfig, real_namespace) == []


@pytest.mark.cluster
@pytest.mark.real_executor
def test_the_pods_run_as_group_reaches_the_run_step(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    runc_engine: RuncEngine,
) -> None:
    """The executor runs with the pod's ``runAsGroup`` and its RUN steps inherit it. (A
    non-root ``runAsUser`` is applied the same way, but the executor cannot start without
    root: it fails reading its Dockerfile, so a build shows nothing more.)"""
    op = _op(
        plain_registry,
        "seccomp/group",
        ["grep -E '^(Uid|Gid):' /proc/self/status"],
        pod_context={"runAsGroup": 1234},
    )
    result = _build(admin_kubeconfig, real_namespace, op, plain_registry)
    assert result.digest.startswith("sha256:")
    lines = finished_run(runc_engine, real_namespace).state.log.lines()
    assert "Uid:\t0\t0\t0\t0" in lines
    assert "Gid:\t1234\t1234\t1234\t1234" in lines
    assert leftovers(admin_kubeconfig, real_namespace) == []


@pytest.mark.cluster
@pytest.mark.real_executor
def test_a_read_only_root_filesystem_stops_the_executor(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    runc_engine: RuncEngine,
) -> None:
    """Kaniko writes its Dockerfile copy (and the base image) over its own root: with
    ``readOnlyRootFilesystem`` it cannot, and the build says so."""
    op = _op(
        plain_registry,
        "seccomp/readonly",
        ["true"],
        container_context={"readOnlyRootFilesystem": True},
    )
    with pytest.raises(BuildFailed, match="error resolving dockerfile path") as caught:
        _build(admin_kubeconfig, real_namespace, op, plain_registry)
    run = finished_run(runc_engine, real_namespace)
    assert run.exit_code == caught.value.exit_code == 1
    # Kaniko's error line, printed before its usage text, is what polymagic reports.
    error = (
        "error resolving dockerfile path: copying dockerfile: creating file:"
        " open /kaniko/Dockerfile: read-only file system"
    )
    assert f"Error: {error}" in run.state.log.lines()
    assert caught.value.detail == error
    assert leftovers(admin_kubeconfig, real_namespace) == []
    assert runc_engine.leftovers() == []


@pytest.mark.cluster
@pytest.mark.real_executor
def test_a_localhost_profile_is_a_config_error_polymagic_reports(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    runc_engine: RuncEngine,
) -> None:
    op = _op(
        plain_registry,
        "seccomp/localhost",
        ["true"],
        pod_context={"seccompProfile": {"type": "Localhost", "localhostProfile": "my.json"}},
    )
    with pytest.raises(BuildFailed, match="seccomp profile type Localhost") as caught:
        _build(admin_kubeconfig, real_namespace, op, plain_registry)
    # As a kubelet does, the node refuses before it creates the container: nothing ran.
    assert [r for r in runc_engine.runs if r.pod.namespace == real_namespace] == []
    assert caught.value.reason == "CreateContainerConfigError"
    assert not caught.value.started
    assert caught.value.detail == (
        'seccomp profile type Localhost ("my.json") is not supported by this test node: it'
        " applies only RuntimeDefault (its runtime's default profile) and Unconfined"
    )
    message = str(caught.value)
    assert "CreateContainerConfigError" in message, message
    assert 'seccomp profile type Localhost ("my.json")' in message, message
    assert caught.value.fix.startswith("the node cannot apply the seccomp profile")
    assert leftovers(admin_kubeconfig, real_namespace) == []
    assert runc_engine.leftovers() == []


# --------------------------------------------------------------------------- the translation


def _profile(*syscalls: dict[str, Any]) -> dict[str, Any]:
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": list(syscalls),
    }


def _names(seccomp: dict[str, Any]) -> list[list[str]]:
    return [rule["names"] for rule in seccomp["syscalls"]]


def _translate(profile: dict[str, Any], caps: list[str], machine: str = "x86_64") -> Any:
    return oci_seccomp(profile, capabilities=caps, machine=machine, kernel=(5, 10, 0))


def test_translation_keeps_default_action_errno_and_the_host_architectures() -> None:
    seccomp = _translate(_profile({"names": ["read"], "action": "SCMP_ACT_ALLOW"}), [])
    assert seccomp == {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}],
    }
    arm = _translate(_profile(), [], machine="aarch64")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]


def test_translation_applies_caps_conditions_against_the_containers_capabilities() -> None:
    profile = _profile(
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {
            "names": ["mount"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1,
            "excludes": {"caps": ["CAP_SYS_ADMIN"]},
        },
        {
            "names": ["both"],
            "action": "SCMP_ACT_ALLOW",
            "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_SYS_TIME"]},
        },
    )
    without = _translate(profile, DEFAULT_CAPABILITIES)["syscalls"]
    assert without == [{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    with_admin = _translate(profile, [*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"])["syscalls"]
    assert with_admin == [{"names": ["mount"], "action": "SCMP_ACT_ALLOW"}]
    # includes.caps needs every capability it names
    both = _translate(profile, ["CAP_SYS_ADMIN", "CAP_SYS_TIME"])
    assert _names(both) == [["mount"], ["both"]]


def test_translation_applies_arch_conditions_with_libseccomps_names() -> None:
    profile = _profile(
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
        {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
        {"names": ["not_amd64"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
    )
    assert _names(_translate(profile, [])) == [["arch_prctl"]]
    assert _names(_translate(profile, [], machine="aarch64")) == [["set_tls"], ["not_amd64"]]


def test_translation_applies_min_kernel_conditions() -> None:
    profile = _profile(
        {"names": ["new"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.6"}},
        {"names": ["old"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "4.8"}},
        {"names": ["exact"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.10"}},
    )
    assert _names(oci_seccomp(profile, capabilities=[], machine="x86_64", kernel=(5, 10))) == [
        ["new"],
        ["exact"],
    ]
    assert _names(oci_seccomp(profile, capabilities=[], machine="x86_64", kernel=(4, 4, 1))) == [
        ["old"]
    ]
    assert kernel_release("6.18.44-fc-v669") == (6, 18, 44)
    assert kernel_release("5.4") == (5, 4)


def test_translation_carries_args_and_errno_and_a_single_name() -> None:
    profile = _profile(
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
        },
        {
            "name": "socket",
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 22,
            "args": [
                {"index": 0, "value": 16, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
                {"index": 2, "value": 9, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
            ],
            "comment": "",
        },
    )
    assert _translate(profile, [])["syscalls"] == [
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
        },
        {
            "names": ["socket"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 22,
            "args": [
                {"index": 0, "value": 16, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
                {"index": 2, "value": 9, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
            ],
        },
    ]


def test_translation_refuses_contradictory_profiles() -> None:
    with pytest.raises(ContainerConfigError, match="both 'name' and 'names'"):
        _translate(_profile({"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}), [])
    both = {**_profile(), "architectures": ["SCMP_ARCH_X86_64"]}
    with pytest.raises(ContainerConfigError, match="both 'architectures' and 'archMap'"):
        _translate(both, [])


def test_the_installed_default_profile_translates_for_this_host() -> None:
    if not DEFAULT_SECCOMP_PROFILE.is_file():
        unavailable(f"{DEFAULT_SECCOMP_PROFILE} is not installed: run .ci/setup")
    profile = json.loads(DEFAULT_SECCOMP_PROFILE.read_text())
    seccomp = _translate(profile, DEFAULT_CAPABILITIES)
    allowed = {
        n
        for rule in seccomp["syscalls"]
        if rule["action"] == "SCMP_ACT_ALLOW"
        for n in rule["names"]
    }
    refused = {
        n
        for rule in seccomp["syscalls"]
        if rule["action"] == "SCMP_ACT_ERRNO"
        for n in rule["names"]
    }
    assert {"arch_prctl", "chroot", "read"} <= allowed  # amd64; CAP_SYS_CHROOT is a default
    assert {"sethostname", "bpf", "clock_settime"} <= refused  # no SYS_ADMIN, no SYS_TIME
    assert "bpf" not in allowed


# --------------------------------------------------------------------------- the kubelet's rules


def test_the_containers_seccomp_profile_wins_over_the_pods() -> None:
    pod = {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}
    unconfined = {"securityContext": {"seccompProfile": {"type": "Unconfined"}}}
    assert effective_seccomp(pod, unconfined) == Seccomp("Unconfined")
    assert effective_seccomp(pod, {}) == Seccomp("RuntimeDefault")
    assert effective_seccomp({}, {}) == Seccomp("Unconfined")  # kubelets without SeccompDefault
    with pytest.raises(ContainerConfigError, match="Localhost"):
        effective_seccomp({"securityContext": {"seccompProfile": {"type": "Localhost"}}}, {})


def test_capabilities_as_containerd_computes_them() -> None:
    assert container_capabilities(None) == DEFAULT_CAPABILITIES
    added = container_capabilities({"capabilities": {"add": ["SYS_ADMIN"], "drop": ["NET_RAW"]}})
    assert "CAP_SYS_ADMIN" in added
    assert "CAP_NET_RAW" not in added
    assert container_capabilities({"capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}}) == [
        "CAP_CHOWN"
    ]
    everything = container_capabilities({"capabilities": {"add": ["ALL"], "drop": ["CHOWN"]}})
    assert "CAP_SYS_ADMIN" in everything
    assert "CAP_CHOWN" not in everything


def test_run_as_user_and_group_the_containers_over_the_pods() -> None:
    assert process_user({}, {}) == {"uid": 0, "gid": 0}
    assert process_user({"runAsUser": 1000, "runAsGroup": 10}, {"runAsUser": 7}) == {
        "uid": 7,
        "gid": 10,
    }
    with pytest.raises(ContainerConfigError, match="runAsUser"):
        process_user({"runAsUser": "root"}, {})
