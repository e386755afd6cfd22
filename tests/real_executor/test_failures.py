"""Builds that fail or are stopped, with the real executor: what the user is told, and that
nothing is left running or behind."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from polymagic.errors import BuildFailed
from polymagic.kube.client import connect
from polymagic.kube.session import BuildOptions, build_image
from polymagic.notebook.progress_widget import Outcome
from polymagic.render.compiler import compile_operation
from polymagic.spec.loader import load_connections
from tests.cluster.runc_runtime import RuncEngine
from tests.cluster.simulated_node import SimulatedNode
from tests.notebook.test_magics_cluster import _magics
from tests.real_executor.base_image import BASE_REPOSITORY, BASE_TAG
from tests.real_executor.helpers import (
    build_argv,
    catalog,
    cli_env,
    leftovers,
    polymagic_build,
    seed_with_base,
    wait_clean,
    write_inputs,
)
from tests.registry.server import RegistryServer

pytestmark = [pytest.mark.cluster, pytest.mark.real_executor]

CLEAN_AFTER_CTRL_C = 5.0
"""Seconds from Ctrl-C to no pod or ConfigMap left: the wall-time promise of the CLI."""

EXIT_STATUS_3 = "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3"


def _failing_op(registry: RegistryServer) -> dict[str, Any]:
    op = seed_with_base(registry.image(BASE_REPOSITORY, BASE_TAG))
    op["params"]["destination"]["value"] = "fail/app"
    op["runPatch"]["init"][0]["dockerfile"]["run"] = ["echo before the failure", "exit 3"]
    return op


def _sleeping_op(registry: RegistryServer) -> dict[str, Any]:
    op = seed_with_base(registry.image(BASE_REPOSITORY, BASE_TAG))
    op["params"]["destination"]["value"] = "stop/app"
    op["runPatch"]["init"][0]["dockerfile"]["run"] = ["echo sleeping now && sleep 600"]
    return op


def _running(engine: RuncEngine, namespace: str) -> list[str]:
    active = set(engine.active())
    return [r.id for r in engine.runs if r.pod.namespace == namespace and r.id in active]


def test_failing_run_names_the_step_and_kanikos_error_in_the_cli(
    tmp_path: Path, admin_kubeconfig: Path, real_namespace: str, plain_registry: RegistryServer
) -> None:
    inputs = write_inputs(tmp_path, _failing_op(plain_registry), catalog(plain_registry))
    done = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    assert done.returncode == 1, done
    assert done.stdout == ""
    assert "step 7/7: RUN exit 3" in done.stderr, done  # the progress line
    error = done.stderr.split("polymagic: error: ", 1)[-1].splitlines()[0]
    assert "failed at step 7/7 (RUN exit 3)" in error, done
    # The executor exits with the RUN's own status; the CLI with 1 (the build failed).
    assert f"the executor exited with code 3 (Error): {EXIT_STATUS_3}" in error, done
    assert leftovers(admin_kubeconfig, real_namespace) == []


def test_failing_run_in_build_failed(
    admin_kubeconfig: Path, real_namespace: str, plain_registry: RegistryServer
) -> None:
    build = compile_operation(
        _failing_op(plain_registry), connections=load_connections(catalog(plain_registry))
    )
    cluster = connect(admin_kubeconfig, namespace=real_namespace)
    try:
        with pytest.raises(BuildFailed, match=EXIT_STATUS_3) as caught:
            build_image(cluster, build, BuildOptions(namespace=real_namespace, timeout=300))
    finally:
        cluster.close()
    message = str(caught.value)
    assert EXIT_STATUS_3 in message
    assert "failed at step 7/7 (RUN exit 3)" in message
    assert leftovers(admin_kubeconfig, real_namespace) == []


def test_failing_run_in_the_widget(
    shell: InteractiveShell,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
) -> None:
    cell = yaml.safe_dump(_failing_op(plain_registry), sort_keys=False)
    with capture_output() as captured:
        result = shell.run_cell("%%polybuild --show none\n" + cell)
    assert not result.success
    assert "BuildFailed: build" in captured.stdout
    progress = next(iter(_magics(shell).builds.values())).progress
    assert progress.outcome is Outcome.FAILED
    assert EXIT_STATUS_3 in progress.outcome_pane.value
    assert "step 7/7" in progress.outcome_pane.value
    assert wait_clean(admin_kubeconfig, real_namespace, 10) == []


def test_missing_base_image_names_the_image_and_the_registry_answer(
    tmp_path: Path, admin_kubeconfig: Path, real_namespace: str, plain_registry: RegistryServer
) -> None:
    missing = plain_registry.image("base/nothing-here", "9")
    op = seed_with_base(missing)
    op["params"]["destination"]["value"] = "missing-base/app"
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    done = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    assert done.returncode == 1, done
    error = done.stderr.split("polymagic: error: ", 1)[-1].splitlines()
    # Kaniko's words (the registry's answer), then polymagic's fix naming the image.
    assert "manifests/9: MANIFEST_UNKNOWN: manifest unknown" in error[0], done
    fix = f"polymagic: fix: the image `{missing}` is not in its registry"
    assert error[1].startswith(fix), done
    assert leftovers(admin_kubeconfig, real_namespace) == []


def test_ctrl_c_during_a_sleeping_run_kills_the_container_and_cleans_up(
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    runc_engine: RuncEngine,
    sim_node: SimulatedNode,
) -> None:
    inputs = write_inputs(tmp_path, _sleeping_op(plain_registry), catalog(plain_registry))
    process = subprocess.Popen(
        build_argv(*inputs, real_namespace),
        env=cli_env(admin_kubeconfig),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_output(sim_node, real_namespace, "sleeping now")
    assert len(_running(runc_engine, real_namespace)) == 1
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    exited = time.monotonic() - interrupted
    assert process.returncode == 130, stderr
    assert stdout == ""
    # The promise is wall time from Ctrl-C to nothing left, the CLI's own exit included: one
    # deadline from the signal (a budget left after the exit could be negative, and then say
    # nothing about how late it was).
    left = wait_clean(admin_kubeconfig, real_namespace, max(0.0, CLEAN_AFTER_CTRL_C - exited))
    took = time.monotonic() - interrupted
    assert left == [], f"{left} left {took:.1f} s after Ctrl-C (the CLI exited at {exited:.1f} s)"
    assert took < CLEAN_AFTER_CTRL_C, f"clean {took:.1f} s after Ctrl-C (exit at {exited:.1f} s)"
    deadline = time.monotonic() + 10
    while _running(runc_engine, real_namespace) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _running(runc_engine, real_namespace) == []
    run = runc_engine.runs[-1]
    assert run.killed
    assert run.exit_code in (137, 143)  # SIGKILL or SIGTERM: killed, not finished
    assert sim_node.seen_pods[-1].exit_codes.get("kaniko") == run.exit_code


def test_stop_button_during_a_sleeping_run_kills_the_container(
    shell: InteractiveShell,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    runc_engine: RuncEngine,
    sim_node: SimulatedNode,
) -> None:
    cell = yaml.safe_dump(_sleeping_op(plain_registry), sort_keys=False)
    with capture_output() as captured:
        result = shell.run_cell("%%polybuild --background --show none\n" + cell)
    assert result.success, captured.stdout
    running = next(iter(_magics(shell).builds.values()))
    _wait_for_output(sim_node, real_namespace, "sleeping now")
    deadline = time.monotonic() + 10
    while "sleeping now" not in _log(running):  # and polymagic has read it
        assert time.monotonic() < deadline, "polymagic never read the RUN step's output"
        time.sleep(0.1)
    stopped = time.monotonic()
    running.progress.stop_button.click()
    assert running.done.wait(30)
    assert running.progress.outcome is Outcome.CANCELLED
    assert wait_clean(admin_kubeconfig, real_namespace, 5 - (time.monotonic() - stopped)) == []
    deadline = time.monotonic() + 10
    while _running(runc_engine, real_namespace) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _running(runc_engine, real_namespace) == []
    assert runc_engine.runs[-1].killed


def _log(running: Any) -> list[str]:
    return [line.strip() for line in running.session.parser.tail]


def _wait_for_output(node: SimulatedNode, namespace: str, line: str, timeout: float = 60) -> None:
    """Wait until the executor's log has ``line`` as a line of its own (the RUN step's output,
    not Kaniko's echo of the instruction): the command is running."""
    deadline = time.monotonic() + timeout
    while True:
        pods = [p for p in node.seen_pods if p.namespace == namespace and p.containers]
        if pods and line in pods[-1].log_lines():
            return
        assert time.monotonic() < deadline, f"the executor never printed {line!r}"
        time.sleep(0.05)
