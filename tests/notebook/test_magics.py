"""The magics in a real IPython shell: arguments, views, errors, settings, eject, --out."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from IPython.core.interactiveshell import InteractiveShell

from polymagic.errors import SpecError, UsageError
from polymagic.notebook.magics import PolyBuildMagics
from polymagic.render.options import BuildOptions
from tests.data import SEED
from tests.notebook.shell import loaded_shell, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    yield from loaded_shell(tmp_path, monkeypatch)


def the_magics(shell: InteractiveShell) -> PolyBuildMagics:
    return next(c for c in shell.configurables if isinstance(c, PolyBuildMagics))


def mimetypes(captured: Any) -> list[dict[str, Any]]:
    return [output.data for output in captured.outputs]


def test_loading_does_not_import_the_kubernetes_client() -> None:
    """``%load_ext polymagic`` stays cheap: no cluster client, no widgets, no models, no compiler."""
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'polymagic')\n"
        "assert 'polybuild' in shell.magics_manager.magics['cell']\n"
        "assert 'polybuild' in shell.magics_manager.magics['line']\n"
        "print(sorted(m for m in ('kubernetes', 'ipywidgets', 'pydantic', 'polymagic.kube.client',"
        " 'polymagic.render.compiler') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]"


def test_a_dry_run_does_not_import_the_kubernetes_client(tmp_path: Path) -> None:
    """A dry run renders and shows: it has no business loading the cluster client (issue 8)."""
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "from IPython.utils.capture import capture_output\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'polymagic')\n"
        "with capture_output() as captured:\n"
        f"    result = shell.run_cell('%%polybuild --dry-run\\n' + {SEED!r})\n"
        "assert result.success, captured.stdout\n"
        "assert any('kind: Pod' in o.data['text/plain'] for o in captured.outputs)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes'"
        " or m in ('polymagic.kube.client', 'polymagic.kube.session')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMAGIC_", "KUBE"))}
    env["HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_dry_run_shows_every_view_with_text_and_html(shell: InteractiveShell) -> None:
    result, captured = run(shell, "%%polybuild --dry-run\n" + SEED)
    assert result.success, captured.stdout
    outputs = mimetypes(captured)
    texts = [o["text/plain"] for o in outputs]
    assert any("FROM tensorflow/tensorflow:2.0.1-py3" in t for t in texts)
    assert any("gcr.io/kaniko-project/executor:latest" in t and "run:" in t for t in texts)
    assert any("kind: Pod" in t for t in texts)
    assert all("text/html" in o for o in outputs)
    assert any(
        "docker-connection" in t for t in texts
    )  # the unknown connection is a visible warning


def test_show_selects_views(shell: InteractiveShell) -> None:
    _, captured = run(shell, "%%polybuild --dry-run --show dockerfile\n" + SEED)
    texts = [o["text/plain"] for o in mimetypes(captured)]
    assert any("FROM tensorflow" in t for t in texts)
    assert not any("kind: Pod" in t for t in texts)


def test_out_binds_the_compiled_build_and_params_expand_notebook_variables(
    shell: InteractiveShell,
) -> None:
    shell.user_ns["tag"] = "team/app:7"
    result, captured = run(
        shell,
        "%%polybuild --dry-run --show none --out compiled -P destination={tag} -P cache=false\n"
        + SEED,
    )
    assert result.success, captured.stdout
    build = shell.user_ns["compiled"]
    assert build.destination == "team/app:7"
    assert "" in build.run_dict["container"]["args"]


def test_spec_errors_show_one_clean_message(shell: InteractiveShell) -> None:
    result, captured = run(shell, "%%polybuild --dry-run\n" + SEED.replace("langEnv", "langenv"))
    assert not result.success
    assert (
        "line 14: runPatch.init[0].dockerfile.langenv: unknown field `langenv`; did you mean `langEnv`?"
        in captured.stdout
    )
    assert "Traceback" not in captured.stdout


def test_without_a_cluster_the_build_says_how_to_configure_one(shell: InteractiveShell) -> None:
    result, captured = run(shell, "%%polybuild\n" + SEED)
    assert not result.success
    assert "ClusterConfigError: no Kubernetes cluster is configured" in captured.stdout
    assert any("FROM tensorflow" in o["text/plain"] for o in mimetypes(captured))
    assert "Traceback" not in captured.stdout


@pytest.mark.parametrize(
    ("what", "start"),
    [
        ("dockerfile", "%%writefile Dockerfile\n\nFROM tensorflow"),
        ("component", "%%writefile build.yaml\n"),
    ],
)
def test_eject_puts_text_into_a_new_cell(shell: InteractiveShell, what: str, start: str) -> None:
    run(shell, f"%%polybuild --dry-run --show none --eject {what}\n" + SEED)
    # A terminal shell keeps the next input here; a kernel sends it to the frontend as a payload.
    assert shell.rl_next_input.startswith(start)


@pytest.mark.parametrize(
    ("line", "runs"),
    [
        ("", "ghcr.io/osscontainertools/kaniko:v1.28.3"),
        (" --executor-image ghcr.io/x/kaniko:1", "ghcr.io/x/kaniko:1"),
    ],
    ids=["default", "executor-image"],
)
def test_the_component_view_names_the_executor_the_pod_runs(
    shell: InteractiveShell, line: str, runs: str
) -> None:
    """The view says which executor runs beside the hub's default; the ejected component and
    the Pod say what they said before (Polyaxon's component, the pod's image)."""
    _, captured = run(shell, f"%%polybuild --dry-run --show component,manifests{line}\n" + SEED)
    view = next(o for o in mimetypes(captured) if "# compiled component" in o["text/plain"])
    annotated = f"image: gcr.io/kaniko-project/executor:latest  # runs {runs} (polymagic's"
    assert annotated in view["text/plain"]
    assert f"# the build pod runs {runs} (polymagic's executor setting)" in view["text/plain"]
    assert f"runs {runs} (polymagic&#x27;s executor setting)" in view["text/html"]
    assert _pod(captured)["spec"]["containers"][0]["image"] == runs
    run(shell, f"%%polybuild --dry-run --show none --eject component{line}\n" + SEED)
    ejected = shell.rl_next_input
    assert "    image: gcr.io/kaniko-project/executor:latest\n" in ejected
    assert "# runs" not in ejected
    assert runs not in ejected


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("timeout = -1", "positive number of seconds"),
        ("show = 'dockerfile,logs'", "unknown view `logs`"),
    ],
)
def test_bad_settings_are_clear_errors(
    shell: InteractiveShell, setting: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    run(shell, f"%config PolyBuildMagics.{setting}")
    # %config reports a refused value through IPython's log (shown in the notebook).
    assert message in caplog.text
    magics = the_magics(shell)
    assert (magics.timeout, magics.show) == (3600.0, "dockerfile,component,manifests")


def test_config_changes_the_magics_settings(shell: InteractiveShell) -> None:
    run(shell, "%config PolyBuildMagics.namespace = 'team-a'")
    magics = the_magics(shell)
    assert magics.namespace == "team-a"


def test_line_magic_usage_error(shell: InteractiveShell) -> None:
    result, captured = run(shell, "%polybuild frobnicate")
    assert not result.success
    assert "usage: %polybuild build|status|logs|cancel|list|form" in captured.stdout
    assert isinstance(result.error_in_exec, UsageError)
    assert not isinstance(result.error_in_exec, SpecError)


def test_a_connection_missing_from_the_given_catalog_fails_the_cell(
    shell: InteractiveShell, tmp_path: Path
) -> None:
    catalog = tmp_path / "connections.yaml"
    catalog.write_text(
        "- {name: docker-connection, kind: registry, schema: {url: registry.example.com/org}}\n"
    )
    typo = SEED.replace("connection: docker-connection", "connection: docker-conection")
    result, captured = run(shell, f"%%polybuild --dry-run --connections {catalog}\n{typo}")
    assert not result.success
    assert isinstance(result.error_in_exec, SpecError)
    assert "did you mean `docker-connection`?" in str(result.error_in_exec)
    assert captured.outputs == []


def _pod(captured: Any) -> dict[str, Any]:
    """The Pod of the manifests view a dry run showed."""
    text = next(o["text/plain"] for o in mimetypes(captured) if "kind: Pod" in o["text/plain"])
    return next(doc for doc in yaml.safe_load_all(text) if doc["kind"] == "Pod")


def test_the_magic_takes_the_command_lines_executor_options_and_deadlines(
    shell: InteractiveShell,
) -> None:
    line = (
        "%%polybuild --dry-run --show manifests --cpu 2 --memory 4Gi --reproducible"
        " --node-selector pool=build --service-account builder --cache-repo r.example/cache"
        " --no-hash-tag --timeout 120 --executor-image ghcr.io/x/kaniko:1\n"
    )
    result, captured = run(shell, line + SEED)
    assert result.success, captured.stdout
    spec = _pod(captured)["spec"]
    container = spec["containers"][0]
    assert spec["activeDeadlineSeconds"] == 120
    assert container["image"] == "ghcr.io/x/kaniko:1"
    for kind in ("requests", "limits"):
        assert container["resources"][kind]["cpu"] == "2"
        assert container["resources"][kind]["memory"] == "4Gi"
    assert spec["nodeSelector"] == {"pool": "build"}
    assert spec["serviceAccountName"] == "builder"
    assert "--reproducible" in container["args"]
    assert "--cache-repo=r.example/cache" in container["args"]
    assert not any(":spec-" in arg for arg in container["args"])


def test_settings_are_the_defaults_and_the_line_wins(shell: InteractiveShell) -> None:
    run(shell, "%config PolyBuildMagics.timeout = 120")
    run(shell, "%config PolyBuildMagics.executor_image = 'ghcr.io/x/kaniko:1'")
    _, captured = run(shell, "%%polybuild --dry-run --show manifests\n" + SEED)
    pod = _pod(captured)
    assert pod["spec"]["activeDeadlineSeconds"] == 120
    assert pod["spec"]["containers"][0]["image"] == "ghcr.io/x/kaniko:1"
    line = "%%polybuild --dry-run --show manifests --timeout 60 --executor-image ghcr.io/y/k:2\n"
    _, captured = run(shell, line + SEED)
    pod = _pod(captured)
    assert pod["spec"]["activeDeadlineSeconds"] == 60
    assert pod["spec"]["containers"][0]["image"] == "ghcr.io/y/k:2"


@pytest.mark.parametrize(
    "line",
    ["--show logs", "--timeout 0", "--stuck-grace soon"],
    ids=["unknown-view", "zero-timeout", "not-a-number"],
)
def test_bad_options_fail_the_cell_before_anything_is_shown(
    shell: InteractiveShell, line: str
) -> None:
    result, captured = run(shell, f"%%polybuild --dry-run {line}\n" + SEED)
    assert not result.success
    assert captured.outputs == []


def _magic_and_cli_options(words: str, tmp_path: Path) -> tuple[BuildOptions, BuildOptions]:
    """The same words read by ``%%polybuild``'s parser and by ``polymagic build``'s, then made
    into options by the one shared function (no settings, the same folder)."""
    from polymagic.app.arguments import build_options
    from polymagic.cli.main import _parser
    from polymagic.notebook.magics import PolyBuildMagics

    in_notebook = PolyBuildMagics.polybuild.parser.parse_argstring(words)
    on_command_line = _parser().parse_args(["build", "op.yaml", *shlex.split(words)])
    return (
        build_options(in_notebook, context_dir=tmp_path),
        build_options(on_command_line, context_dir=tmp_path),
    )


@pytest.mark.parametrize(
    "words",
    [
        "",
        "--namespace ml --keep --force --context sub --dry-run",
        "--timeout 90 --start-timeout 30 --stuck-grace 5 --log-idle-timeout 20",
        "--build-arg A=1 --build-arg B=x=y --target runtime --tag :v2 --tag r.example/o/i:3",
        "--reproducible --snapshot-mode redo --insecure-registry r:5000"
        " --skip-tls-verify-registry s --cache-repo c/r --no-hash-tag",
        "--cpu 2 --memory 4Gi --node-selector pool=build --service-account sa"
        " --executor-image ghcr.io/x/kaniko:1",
    ],
    ids=["none", "run", "deadlines", "dockerfile", "registries", "pod"],
)
def test_the_magic_and_the_command_line_read_the_shared_options_alike(
    words: str, tmp_path: Path
) -> None:
    in_notebook, on_command_line = _magic_and_cli_options(words, tmp_path)
    assert in_notebook == on_command_line
    if words:
        assert in_notebook != _magic_and_cli_options("", tmp_path)[0]


def test_every_shared_option_is_on_both_parsers() -> None:
    from polymagic.app.arguments import BUILD_OPTIONS, CONTEXT, EXECUTOR_OPTIONS
    from polymagic.cli.main import _parser
    from polymagic.notebook.magics import PolyBuildMagics

    shared = {f for o in (*BUILD_OPTIONS, CONTEXT, *EXECUTOR_OPTIONS.options) for f in o.flags}
    build = next(
        action.choices["build"]
        for action in _parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    for parser in (build, PolyBuildMagics.polybuild.parser):
        assert shared <= set(parser._option_string_actions)


def test_build_file_shows_what_the_cell_with_its_text_shows(
    shell: InteractiveShell, tmp_path: Path
) -> None:
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "build.yaml").write_text(SEED)
    _, from_cell = run(shell, "%%polybuild --dry-run -P destination=team/app:2\n" + SEED)
    result, from_file = run(
        shell, "%polybuild build ops/build.yaml --dry-run -P destination=team/app:2"
    )
    assert result.success, result.error_in_exec
    assert mimetypes(from_file) == mimetypes(from_cell)
    assert any("team/app:2" in o["text/plain"] for o in mimetypes(from_file))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%polybuild build", r"usage: %polybuild build FILE"),
        ("%polybuild build missing.yaml --dry-run", r"missing\.yaml"),
    ],
    ids=["no-file", "missing-file"],
)
def test_build_file_errors_are_one_line(shell: InteractiveShell, line: str, message: str) -> None:
    import re

    result, captured = run(shell, line)
    assert not result.success
    assert re.search(message, str(result.error_in_exec))
    assert "Traceback" not in captured.stdout
