"""Builds with a memory limit, with the real executor: a RUN step over the limit is killed by
the kernel's OOM killer in the container's cgroup and the build fails as ``OOMKilled`` (as a
kubelet reports it), a build that fits the same limit succeeds, and nothing is left behind.
Also the runtime's reading of Kubernetes quantities, which turns the limits into cgroup values.

Figures, measured on the 2-core test machine (cgroup v1; peak = the container cgroup's
``memory.max_usage_in_bytes``, page cache included, read every 50 ms): the executor's peak for
a build of the busybox base with one ``echo`` RUN step and the push is 16 MiB; with a RUN step
``dd bs=64M`` 81 MiB. :data:`TIGHT` (192 MiB) is 12 times the executor's own peak and more than
twice the 64 MiB build's, and 224 MiB short of what the ``dd bs=400M`` step needs (400 MiB on
top of the executor's 16)."""

from __future__ import annotations

import contextlib
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from polymagic.errors import BuildFailed
from polymagic.render.build_objects import KanikoOptions
from tests.cluster.runc_runtime import (
    ContainerConfigError,
    RuncEngine,
    oci_resources,
    parse_quantity,
)
from tests.real_executor.helpers import (
    build_in,
    catalog,
    finished_run,
    leftovers,
    op_running,
    polymagic_build,
    write_inputs,
)
from tests.registry.server import RegistryServer

TIGHT = "192Mi"
"""Fits the executor (peak 16 MiB) and a 64 MiB RUN step, not a 400 MiB one."""
HUNGRY_RUN = "dd if=/dev/zero of=/dev/null bs=400M count=1"
"""busybox's dd allocates (and touches) one 400 MiB buffer."""


def _eventfds() -> int:
    """Eventfds this process holds (the runtime's OOM watch is one while a container runs)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventfd]"
    return count


def _build(kubeconfig: Path, namespace: str, op: dict[str, Any], registry: RegistryServer,
           memory: str) -> Any:  # fmt: skip
    kaniko = KanikoOptions(resources={"limits": {"memory": memory}})
    return build_in(kubeconfig, namespace, op, registry, kaniko=kaniko)


@pytest.mark.cluster
@pytest.mark.real_executor
def test_a_run_step_over_the_memory_limit_fails_the_build_as_oom_killed(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    runc_engine: RuncEngine,
) -> None:
    eventfds = _eventfds()
    op = op_running(plain_registry, "oom/app", ["echo before the allocation", HUNGRY_RUN])
    with pytest.raises(BuildFailed, match="signal: killed") as caught:
        _build(admin_kubeconfig, real_namespace, op, plain_registry, TIGHT)
    run = finished_run(runc_engine, real_namespace)
    assert run.oom_killed
    # The kernel killed dd, a child (the shell exec'd it), not the executor: Kaniko reported
    # the signal and exited with the code Go gives a killed child, -1, so 255. Not 137: only
    # the OOM watch, not the exit code, tells this build ran out of memory.
    assert run.exit_code == 255
    assert run.state.log.lines()[-1].endswith("waiting for process to exit: signal: killed")
    assert caught.value.reason == "OOMKilled"
    assert caught.value.exit_code == run.exit_code
    # What the user reads: the step that ran, Kaniko's own line, the limit and twice it.
    assert caught.value.summary.startswith(
        f"build `{caught.value.name}` ran out of memory at step 7/7 (RUN {HUNGRY_RUN}): the"
        " kernel's out-of-memory killer stopped it (OOMKilled, the executor exited with code 255)"
    )
    assert caught.value.detail.endswith("waiting for process to exit: signal: killed")
    assert caught.value.fix.startswith(
        f"the executor may use at most {TIGHT} of memory: give it more, e.g. `--memory 384Mi`"
    )
    assert leftovers(admin_kubeconfig, real_namespace) == []
    assert runc_engine.leftovers() == []
    assert _eventfds() == eventfds


@pytest.mark.cluster
@pytest.mark.real_executor
def test_cli_memory_limit_reaches_the_container_and_an_oom_fails_the_build(
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    runc_engine: RuncEngine,
) -> None:
    op = op_running(plain_registry, "oom-cli/app", [HUNGRY_RUN])
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    done = polymagic_build(admin_kubeconfig, inputs, real_namespace, "--memory", TIGHT)
    assert done.returncode == 1, done
    run = finished_run(runc_engine, real_namespace)
    assert run.oom_killed, done
    assert run.state.terminated is not None
    assert run.state.terminated["reason"] == "OOMKilled"
    error = done.stderr.split("polymagic: error: ", 1)[-1].splitlines()[0]
    assert f"ran out of memory at step 6/6 (RUN {HUNGRY_RUN})" in error, done
    assert f"polymagic: fix: the executor may use at most {TIGHT} of memory" in done.stderr, done
    assert leftovers(admin_kubeconfig, real_namespace) == []
    assert runc_engine.leftovers() == []


@pytest.mark.cluster
@pytest.mark.real_executor
def test_a_build_that_fits_the_memory_limit_succeeds(
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    runc_engine: RuncEngine,
) -> None:
    op = op_running(
        plain_registry,
        "fits/app",
        [
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
            "dd if=/dev/zero of=/dev/null bs=64M count=1",
        ],
    )
    result = _build(admin_kubeconfig, real_namespace, op, plain_registry, TIGHT)
    assert result.digest.startswith("sha256:")
    run = finished_run(runc_engine, real_namespace)
    assert str(192 * 2**20) in run.state.log.lines()  # the limit is in the container's cgroup
    assert not run.oom_killed
    assert run.memory_peak is not None
    print(f"peak under {TIGHT}: {run.memory_peak / 2**20:.0f} MiB")
    assert leftovers(admin_kubeconfig, real_namespace) == []


# --------------------------------------------------------------------------- quantities


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("96Mi", 96 * 2**20),
        ("1Gi", 2**30),
        ("2Ki", 2048),
        ("1Ti", 2**40),
        ("500M", 500_000_000),
        ("2k", 2000),
        ("1G", 10**9),
        ("3T", 3 * 10**12),
        ("128974848", 128974848),
        (128974848, 128974848),
        ("129e6", 129_000_000),
        ("1E3", 1000),  # an exponent, not exa
        ("500m", Decimal("0.5")),
        ("1.5Gi", 3 * 2**29),
        ("0.5", Decimal("0.5")),
    ],
)
def test_quantities(text: str | int, value: Decimal | int) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text", ["", "Mi", "1 Mi", "1mi", "1MiB", "1e", "1e99999", "0x10", "1.2.3", "nan", None, True]
)
def test_unreadable_quantities_are_config_errors(text: object) -> None:
    with pytest.raises(ContainerConfigError, match="not a Kubernetes quantity"):
        parse_quantity(text)


@pytest.mark.parametrize("memory", ["-1", "1e30", "12E"])
def test_impossible_memory_limits_are_config_errors(memory: str) -> None:
    with pytest.raises(ContainerConfigError, match="out of range"):
        oci_resources({"limits": {"memory": memory}}, swap_controller=True)


def test_resources_as_containerd_writes_them() -> None:
    resources = {"limits": {"memory": "192Mi", "cpu": "2"}, "requests": {"cpu": "500m"}}
    assert oci_resources(resources, swap_controller=True) == {
        "memory": {"limit": 192 * 2**20, "swap": 192 * 2**20},
        "cpu": {"shares": 512, "period": 100_000, "quota": 200_000},
    }
    # Without the swap controller runc refuses a swap value: containerd leaves it out.
    assert oci_resources(resources, swap_controller=False)["memory"] == {"limit": 192 * 2**20}
    # A limit without a request: the request defaults to it (shares); none: the least shares.
    assert oci_resources({"limits": {"cpu": "250m"}}, swap_controller=True) == {
        "cpu": {"shares": 256, "period": 100_000, "quota": 25_000}
    }
    assert oci_resources({}, swap_controller=True) == {"cpu": {"shares": 2, "period": 100_000}}
    assert oci_resources(
        {"requests": {"cpu": "1m"}, "limits": {"cpu": "1m"}}, swap_controller=True
    )["cpu"] == {"shares": 2, "period": 100_000, "quota": 1000}
