"""The magics building on the real test cluster: the widget's final states, --out, the Stop
button of a background build, and the line magics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from polymagic.kube.client import connect
from polymagic.notebook.progress_widget import Outcome
from tests.cluster.simulated_node import Scenario, SimulatedNode
from tests.data import SEED
from tests.notebook.shell import cluster_shell
from tests.test_build_cluster import CATALOG, _leftovers, _secret

pytestmark = pytest.mark.cluster


@pytest.fixture
def shell(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    admin_kubeconfig: Path,
    namespace: str,
    sim_node: SimulatedNode,
) -> Iterator[InteractiveShell]:
    cluster = connect(admin_kubeconfig, namespace=namespace)
    _secret(cluster)
    cluster.close()
    monkeypatch.setenv("POLYMAGIC_STUCK_GRACE", "3")
    yield from cluster_shell(tmp_path, monkeypatch, admin_kubeconfig, namespace, CATALOG)


def _magics(shell: InteractiveShell) -> Any:
    return next(c for c in shell.configurables if type(c).__name__ == "PolyBuildMagics")


def run(shell: InteractiveShell, code: str) -> tuple[Any, Any]:
    with capture_output() as captured:
        result = shell.run_cell(code)
    return result, captured


def _clean(admin_kubeconfig: Path, namespace: str) -> None:
    cluster = connect(admin_kubeconfig, namespace=namespace)
    try:
        deadline = time.monotonic() + 20
        while _leftovers(cluster) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _leftovers(cluster) == []
    finally:
        cluster.close()


def test_build_shows_the_widget_and_binds_the_result(
    shell: InteractiveShell, admin_kubeconfig: Path, namespace: str
) -> None:
    result, captured = run(shell, "%%polybuild --out result --show dockerfile\n" + SEED)
    assert result.success, captured.stdout
    built = shell.user_ns["result"]
    assert built.image.startswith("registry.example.com/org/polyaxon/polyaxon-quick-start@sha256:")
    outputs = [o.data for o in captured.outputs]
    assert any("application/vnd.jupyter.widget-view+json" in o for o in outputs)
    records = [
        o["application/vnd.polymagic.build+json"]
        for o in outputs
        if "application/vnd.polymagic.build+json" in o
    ]
    assert records
    assert records[-1]["image"] == built.image
    progress = _magics(shell).builds[built.name].progress
    assert progress.outcome is Outcome.SUCCEEDED
    assert progress.image_text.value == built.image
    assert progress.step_bar.value == progress.step_bar.max == 6
    # The widget's place ends with the static final state (what a saved notebook keeps).
    ended = [o for o in outputs if 'class="polymagic-final"' in o.get("text/html", "")]
    assert len(ended) == 1
    assert set(ended[0]) == {"text/html", "text/plain"}
    assert "<strong>succeeded</strong> in " in ended[0]["text/html"]
    assert f"image <code>{built.image}</code>" in ended[0]["text/html"]
    assert ended[0]["text/plain"] == progress.text()
    assert ended[0]["text/plain"].splitlines()[1] == built.image
    _clean(admin_kubeconfig, namespace)


def test_failure_shows_reason_in_the_widget_and_one_message(
    shell: InteractiveShell, sim_node: SimulatedNode, admin_kubeconfig: Path, namespace: str
) -> None:
    sim_node.set_scenario(namespace, Scenario.RUN_FAILS)
    result, captured = run(shell, "%%polybuild --show none\n" + SEED)
    assert not result.success
    assert "BuildFailed: build" in captured.stdout
    assert "exited with code 3" in captured.stdout
    assert "Traceback" not in captured.stdout
    progress = next(iter(_magics(shell).builds.values())).progress
    assert progress.outcome is Outcome.FAILED
    assert "error building image" in progress.outcome_pane.value
    pages = [
        o.data for o in captured.outputs if 'class="polymagic-final"' in o.data.get("text/html", "")
    ]
    assert len(pages) == 1
    assert "<strong>failed</strong> after " in pages[0]["text/html"]
    assert "error building image" in pages[0]["text/html"]
    assert "last log lines:" in pages[0]["text/plain"]
    # the record's place says there is no image (not "no image yet")
    assert any(
        o.data.get("text/plain", "").endswith(": no image (failed)") for o in captured.outputs
    )
    _clean(admin_kubeconfig, namespace)


def test_background_build_stopped_with_the_button(
    shell: InteractiveShell, sim_node: SimulatedNode, admin_kubeconfig: Path, namespace: str
) -> None:
    sim_node.set_scenario(namespace, Scenario.SUCCESS, hold_running=True)
    started = time.monotonic()
    result, captured = run(shell, "%%polybuild --background --show none\n" + SEED)
    assert result.success, captured.stdout
    assert time.monotonic() - started < 20  # returned while the build still runs
    running = next(iter(_magics(shell).builds.values()))
    deadline = time.monotonic() + 30
    while running.progress.step_bar.value < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running.progress.step_bar.value >= 2
    running.progress.stop_button.click()
    assert running.done.wait(30)
    assert running.progress.outcome is Outcome.CANCELLED
    assert running.progress.stop_button.disabled
    _clean(admin_kubeconfig, namespace)


def test_line_magics_find_status_logs_and_cancel(
    shell: InteractiveShell, sim_node: SimulatedNode, admin_kubeconfig: Path, namespace: str
) -> None:
    sim_node.set_scenario(namespace, Scenario.SUCCESS, hold_running=True)
    run(shell, "%%polybuild --background --show none --keep\n" + SEED)
    running = next(iter(_magics(shell).builds.values()))
    name = running.session.name
    deadline = time.monotonic() + 30
    while running.progress.step_bar.value < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    listed = shell.run_line_magic("polybuild", "list")
    assert name in repr(listed)
    status = shell.run_line_magic("polybuild", f"status {name}")
    assert "Running" in repr(status)
    logs = shell.run_line_magic("polybuild", f"logs {name}")
    assert "Retrieving image manifest tensorflow/tensorflow:2.0.1-py3" in repr(logs)
    with capture_output() as captured:
        shell.run_line_magic("polybuild", f"cancel {name}")
    assert f"cancelled build `{name}`" in captured.stdout
    assert running.done.wait(30)
    _clean(admin_kubeconfig, namespace)
    empty = shell.run_line_magic("polybuild", "list")
    assert repr(empty) == (
        f"no polymagic builds in namespace `{namespace}`: finished builds are deleted with"
        " their pods unless built with --keep"
    )


def test_form_build_button_runs_the_same_build(
    shell: InteractiveShell, admin_kubeconfig: Path, namespace: str
) -> None:
    form = shell.run_line_magic("polybuild", "form")
    form.fields["image"].value = "python:3.11-slim"
    form.fields["run"].value = "pip install --no-cache-dir scikit-learn"
    assert form.errors == {}
    assert not form.build_button.disabled
    with capture_output():
        form.build_button.click()
    deadline = time.monotonic() + 10
    while not _magics(shell).builds and time.monotonic() < deadline:
        time.sleep(0.1)
    running = next(iter(_magics(shell).builds.values()))
    assert running.done.wait(60)
    assert running.progress.outcome is Outcome.SUCCEEDED
    assert running.result is not None
    assert (
        "RUN pip install --no-cache-dir scikit-learn"
        in running.session.manifests.config_map["data"]["Dockerfile"]
    )
    _clean(admin_kubeconfig, namespace)
