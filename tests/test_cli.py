"""The command line: outputs, formats, exit codes and the error contract."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from polymagic.cli.main import main
from tests.data import CONFORMANCE, REGISTRY, SEED


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def op_file(tmp_path: Path) -> Path:
    path = tmp_path / "op.yaml"
    path.write_text(SEED)
    return path


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "connections.yaml"
    path.write_text(yaml.safe_dump(REGISTRY))
    return path


def test_only_dockerfile_prints_exactly_the_text(op_file: Path) -> None:
    code, out, _ = run("render", str(op_file), "--only", "dockerfile")
    assert code == 0
    assert out == (CONFORMANCE / "dockerfile" / "quick-start.Dockerfile").read_text()


def test_only_component_json_is_the_compiled_component(op_file: Path, catalog: Path) -> None:
    code, out, err = run(
        "render", str(op_file), "--only", "component", "-o", "json", "--connections", str(catalog)
    )
    assert code == 0, err
    component = json.loads(out)
    assert component["kind"] == "component"
    assert (
        component["run"]["container"]["args"][3]
        == "registry.example.com/org/polyaxon/polyaxon-quick-start"
    )
    assert component["run"]["init"][0]["dockerfile"]["langEnv"] == "en_US.UTF-8"
    destination = next(io for io in component["outputs"] if io["name"] == "destination")
    assert destination["value"] == "polyaxon/polyaxon-quick-start"


def test_only_manifests_prints_configmap_then_pod(op_file: Path, catalog: Path) -> None:
    code, out, _ = run(
        "render",
        str(op_file),
        "--only",
        "manifests",
        "--connections",
        str(catalog),
        "--namespace",
        "ml",
    )
    assert code == 0
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["ConfigMap", "Pod"]
    assert {d["metadata"]["namespace"] for d in docs} == {"ml"}
    assert (
        docs[0]["data"]["Dockerfile"]
        == (CONFORMANCE / "dockerfile" / "quick-start.Dockerfile").read_text()
    )


def test_without_only_prints_all_three_labelled(op_file: Path) -> None:
    code, out, err = run("render", str(op_file))
    assert code == 0
    assert "# ---- Dockerfile:" in out
    assert "# ---- Component: build (compiled) ----" in out
    assert "# ---- Kubernetes objects ----" in out
    assert "docker-connection" in err  # the missing connection is a warning, on stderr


def test_json_without_only_has_all_parts(op_file: Path) -> None:
    code, out, _ = run("render", str(op_file), "-o", "json")
    data = json.loads(out)
    assert code == 0
    assert set(data) == {"dockerfiles", "component", "manifests"}


def test_params_override(op_file: Path) -> None:
    code, out, _ = run(
        "render",
        str(op_file),
        "--only",
        "component",
        "-o",
        "json",
        "-P",
        "cache=false",
        "-P",
        "destination=x/y:1",
    )
    args = json.loads(out)["run"]["container"]["args"]
    assert code == 0
    assert args[3] == "x/y:1"
    assert args[4] == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-P", "cache=maybe"], "param `cache`"),
        (["-P", "oops"], "Invalid format for -P parameter"),
        (["--connections", "/nonexistent.yaml"], "file not found"),
    ],
)
def test_bad_input_exits_2_with_one_line(op_file: Path, argv: list[str], message: str) -> None:
    code, out, err = run("render", str(op_file), *argv)
    assert code == 2
    assert out == ""
    lines = [line for line in err.splitlines() if line.startswith("polymagic: error:")]
    assert len(lines) == 1
    assert message in lines[0]


def test_broken_file_reports_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(SEED.replace("langEnv", "langenv"))
    code, _, err = run("render", str(path))
    assert code == 2
    assert err.strip() == (
        f"polymagic: error: {path}, line 14: runPatch.init[0].dockerfile.langenv: "
        "unknown field `langenv`; did you mean `langEnv`?"
    )


def test_lint_goes_to_stderr_and_keeps_stdout_identical(op_file: Path) -> None:
    plain = run("render", str(op_file), "--only", "dockerfile")
    linted = run("render", str(op_file), "--only", "dockerfile", "--lint")
    assert linted[1] == plain[1]
    assert "PM004" in linted[2]
    assert "lint:" in linted[2]


def test_connections_from_environment(
    op_file: Path, catalog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLYMAGIC_CONNECTIONS", str(catalog))
    _, out, err = run("render", str(op_file), "--only", "component", "-o", "json")
    assert "registry.example.com/org/" in json.loads(out)["run"]["container"]["args"][3]
    assert "not in the connections catalog" not in err


@pytest.mark.parametrize(
    "entry",
    [["-m", "polymagic"], ["-c", "from polymagic.cli.main import main; raise SystemExit(main())"]],
)
def test_module_entry_point_and_exit_code(op_file: Path, entry: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, *entry, "render", str(op_file), "--only", "dockerfile"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("\nFROM tensorflow/tensorflow:2.0.1-py3\n")
    bad = subprocess.run(
        [sys.executable, "-m", "polymagic", "render", str(op_file), "-P", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1


def test_the_quick_start_file_is_the_packaged_example() -> None:
    from polymagic.spec.examples import QUICK_START

    root = Path(__file__).resolve().parent.parent
    assert (root / "notebooks" / "quick-start.yaml").read_text() == QUICK_START


def _catalog_sources(
    tmp_path: Path, catalog: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    monkeypatch.delenv("POLYMAGIC_CONNECTIONS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    if how == "option":
        return ["--connections", str(catalog)]
    if how == "variable":
        monkeypatch.setenv("POLYMAGIC_CONNECTIONS", str(catalog))
    else:
        (tmp_path / "config" / "polymagic").mkdir(parents=True)
        (tmp_path / "config" / "polymagic" / "connections.yaml").write_text(catalog.read_text())
    return []


@pytest.mark.parametrize("how", ["option", "variable", "user-config"])
@pytest.mark.parametrize("command", ["render", "build"])
def test_a_connection_missing_from_a_given_catalog_is_a_typo(
    tmp_path: Path,
    catalog: Path,
    how: str,
    command: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a catalog the user gave, a missing connection is refused before anything else
    (a `build` never gets as far as looking for a cluster)."""
    op = tmp_path / "typo.yaml"
    op.write_text(SEED.replace("connection: docker-connection", "connection: docker-conection"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    code, out, err = run(command, str(op), *_catalog_sources(tmp_path, catalog, how, monkeypatch))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "connection `docker-conection` is not in the connections catalog" in err
    assert "which has `docker-connection`); did you mean `docker-connection`?" in err
    assert "params.destination.connection" in err


def test_without_any_catalog_render_only_warns(tmp_path: Path, op_file: Path) -> None:
    code, out, err = run("render", str(op_file), "--only", "dockerfile")
    assert code == 0
    assert out.startswith("\nFROM ")
    assert "`docker-connection` is not in the connections catalog" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--timeout", "0"],
        ["--start-timeout", "-5"],
        ["--stuck-grace", "soon"],
        ["--log-idle-timeout", "nan"],
    ],
    ids=["zero", "negative", "text", "nan"],
)
def test_a_deadline_must_be_a_positive_number_of_seconds(
    op_file: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused when the line is read, as the notebook's settings refuse it: not after the
    build was submitted with a deadline that has already passed."""
    with pytest.raises(SystemExit, match=r"^2$") as exited:
        main(["build", str(op_file), "--dry-run", *argv])
    assert exited.value.code == 2
    assert "expected a positive number of seconds" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "render",
            "-P --connections --namespace --executor-image --only -o --output --lint --context"
            " --build-arg --target --tag --reproducible --snapshot-mode --insecure-registry"
            " --skip-tls-verify-registry --cache-repo --no-hash-tag --cpu --memory"
            " --node-selector --service-account"
            " --no-push-cache --compressed-caching --single-snapshot --use-new-run"
            " --cache-run-layers --cache-copy-layers --registry-mirror"
            " --skip-default-registry-fallback --push-retry --image-download-retry --compression"
            " --compression-level --image-format --label --annotation"
            " --push-ignore-immutable-tag-errors --executor-arg --no-annotations --pin-base"
            " --allow-pod-field",
        ),
        (
            "build",
            "-P --connections --namespace --executor-image --dry-run --keep --quiet --attest"
            " --no-attest --sign --timeout"
            " --start-timeout --stuck-grace --log-idle-timeout --context --force --build-arg"
            " --target --tag --reproducible --snapshot-mode --insecure-registry"
            " --skip-tls-verify-registry --cache-repo --no-hash-tag --cpu --memory"
            " --node-selector --service-account"
            " --no-push-cache --compressed-caching --single-snapshot --use-new-run"
            " --cache-run-layers --cache-copy-layers --registry-mirror"
            " --skip-default-registry-fallback --push-retry --image-download-retry --compression"
            " --compression-level --image-format --label --annotation"
            " --push-ignore-immutable-tag-errors --executor-arg --no-annotations --pin-base"
            " --allow-pod-field",
        ),
        ("status", "--namespace"),
        ("list", "--namespace -A --all-namespaces"),
        (
            "freeze",
            "--imported --base --destination --connection --pip-conf --exclude --include-tooling"
            " --requirements --force --context -o --output",
        ),
        ("rbac", "--namespace --service-account --connections --secret"),
    ],
)
def test_each_command_keeps_its_documented_options(command: str, expected: str) -> None:
    from polymagic.cli.main import _parser

    commands = next(
        action for action in _parser()._actions if isinstance(action, argparse._SubParsersAction)
    )
    declared = set(commands.choices[command]._option_string_actions) - {"-h", "--help"}
    assert declared == set(expected.split())


def test_render_and_a_dry_run_build_show_the_same_objects(op_file: Path, tmp_path: Path) -> None:
    """Both read the executor options through the same function: the same objects come out."""
    options = ["--namespace", "ml", "--cpu", "2", "--build-arg", "A=1", "--tag", ":v2"]
    _, rendered, _ = run("render", str(op_file), "--only", "manifests", *options)
    kubeconfig = tmp_path / "no-such-kubeconfig"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KUBECONFIG", str(kubeconfig))
        code, shown, _ = run("build", str(op_file), "--dry-run", *options)
    assert code == 0
    objects = shown[shown.index("# ---- Kubernetes objects ----\n") :].split("\n", 1)[1]
    assert list(yaml.safe_load_all(objects)) == list(yaml.safe_load_all(rendered))
