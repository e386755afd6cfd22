"""Compiling operations: the golden runs, params, component references and templates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from polymagic.errors import ParamError, SpecError, UnsupportedError
from polymagic.render.compiler import compile_operation
from polymagic.spec.loader import load_connections
from tests.data import REGISTRY, SEED

GOLDEN = Path(__file__).parent / "conformance" / "compile"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


@pytest.mark.parametrize("name", CASES, ids=CASES)
def test_golden_run_matches_polyaxon(name: str) -> None:
    case = GOLDEN / name
    params = [line for line in (case / "params").read_text().splitlines() if line]
    build = compile_operation(
        (case / "op.yaml").read_text(),
        params=params,
        connections=load_connections(case / "connections.yaml"),
    )
    assert build.run_dict == json.loads((case / "expected.json").read_text())


def _args(
    op: str = SEED,
    params: list[str] | None = None,
    connections: list[dict[str, object]] | None = None,
) -> list[str]:
    build = compile_operation(
        op, params=params or [], connections=load_connections(connections or [])
    )
    container = build.run_dict["container"]
    return list(container["args"])


def test_seed_with_registry_url_resolves_the_documented_args() -> None:
    assert _args(connections=REGISTRY) == [
        "-c",
        "/plx-context/artifacts",
        "-d",
        "registry.example.com/org/polyaxon/polyaxon-quick-start",
        "--cache",
        "--cache-ttl=1h",
    ]


def test_seed_without_catalog_uses_the_bare_destination_and_warns() -> None:
    build = compile_operation(SEED)
    assert build.run_dict["container"]["args"][3] == "polyaxon/polyaxon-quick-start"
    assert build.missing_connections == ("docker-connection",)
    assert any("docker-connection" in w for w in build.warnings)


@pytest.mark.parametrize(
    ("value", "flag"),
    [("false", ""), ("0", ""), ("off", ""), ("true", "--cache"), ("yes", "--cache")],
)
def test_bool_flag_override(value: str, flag: str) -> None:
    assert _args(params=[f"cache={value}"])[4] == flag


def test_override_keeps_the_connection() -> None:
    args = _args(params=["destination=other/img:2"], connections=REGISTRY)
    assert args[3] == "registry.example.com/org/other/img:2"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["cache=maybe"], "param `cache` got `maybe`"),
        (["destination=a:b:c"], "Invalid docker image"),
        (["cahce=false"], "did you mean `cache`"),
        (["novalue"], "Invalid format for -P parameter: 'novalue'"),
        (["cache=1", "cache=0"], "Repeated parameter: 'cache'"),
    ],
    ids=["bad-bool", "bad-image", "typo", "no-equals", "repeated"],
)
def test_bad_params_name_the_param(params: list[str], message: str) -> None:
    with pytest.raises(ParamError, match=message):
        compile_operation(SEED, params=params)


def test_missing_required_input_is_named() -> None:
    component = {
        "kind": "component",
        "name": "needs",
        "inputs": [{"name": "lr", "type": "float"}],
        "run": {"kind": "job", "container": {"image": "x:1"}},
    }
    with pytest.raises(ParamError, match="param `lr` is required"):
        compile_operation({"kind": "operation", "component": component})


def test_short_form_params_and_context_value() -> None:
    op = yaml.safe_load(SEED)
    op["params"]["context"] = "/workspace"
    build = compile_operation(op)
    assert build.run_dict["container"]["args"][:2] == ["-c", "/workspace"]


@pytest.mark.parametrize("ref", ["kaniko", "kaniko:latest", "kaniko:1.2", "polyaxon/kaniko"])
def test_hub_versions_resolve_to_the_same_run(ref: str) -> None:
    op = yaml.safe_load(SEED)
    op["hubRef"] = ref
    assert compile_operation(op).run_dict == compile_operation(SEED).run_dict


@pytest.mark.parametrize(
    ("ref", "message"), [("kaniko:9", "no such version"), ("buildah", "not bundled")]
)
def test_unknown_hub_components_are_clear(ref: str, message: str) -> None:
    op = yaml.safe_load(SEED)
    op["hubRef"] = ref
    with pytest.raises(SpecError, match=message):
        compile_operation(op)


def test_path_ref_is_relative_to_the_operation_file(tmp_path: Path) -> None:
    component = (
        Path(__file__).parent.parent / "polymagic" / "spec" / "hub" / "kaniko-1.2.yaml"
    ).read_text()
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "kaniko.yaml").write_text(component)
    op = yaml.safe_load(SEED)
    del op["hubRef"]
    op["pathRef"] = "components/kaniko.yaml"
    (tmp_path / "op.yaml").write_text(yaml.safe_dump(op))
    assert compile_operation(tmp_path / "op.yaml").run_dict == compile_operation(SEED).run_dict


def test_inline_component_compiles() -> None:
    op = yaml.safe_load(SEED)
    del op["hubRef"]
    op["component"] = yaml.safe_load(
        (
            Path(__file__).parent.parent / "polymagic" / "spec" / "hub" / "kaniko-1.2.yaml"
        ).read_text()
    )
    assert compile_operation(op).run_dict == compile_operation(SEED).run_dict


@pytest.mark.parametrize("key", ["urlRef", "dagRef"])
def test_unsupported_references_say_so(key: str) -> None:
    op = yaml.safe_load(SEED)
    del op["hubRef"]
    op[key] = "somewhere"
    with pytest.raises(UnsupportedError, match="not supported"):
        compile_operation(op)


def test_destination_without_connection_explains_the_fix() -> None:
    op = yaml.safe_load(SEED)
    op["params"]["destination"] = "org/img"
    with pytest.raises(SpecError, match="give the param a connection"):
        compile_operation(op)


def test_undefined_template_name_is_a_spec_error() -> None:
    op = yaml.safe_load(SEED)
    op["runPatch"]["container"] = {"args": ["{{ nothing.here }}"]}
    with pytest.raises(SpecError, match="cannot resolve the template"):
        compile_operation(op)


def test_env_values_are_read_as_literals_like_polyaxon() -> None:
    op = yaml.safe_load(SEED)
    op["runPatch"]["container"] = {"env": [{"name": "N", "value": "1"}]}
    # Polyaxon reads "1" back as the number 1 in the resolved run (the pod gets a string).
    assert compile_operation(op).run_dict["container"]["env"] == [{"name": "N", "value": 1}]


def test_server_side_fields_are_named_in_a_warning() -> None:
    op = yaml.safe_load(SEED)
    op["queue"] = "gpu"
    op["presets"] = ["a"]
    build = compile_operation(op)
    assert any("`presets`" in w and "`queue`" in w for w in build.warnings)


def test_termination_timeout_is_read() -> None:
    op = yaml.safe_load(SEED)
    op["termination"] = {"timeout": 600}
    assert compile_operation(op).timeout == 600


@pytest.mark.parametrize(
    "container",
    [{"args": "--no-push"}, {"command": "/kaniko/executor"}, {"args": [1, True]}],
    ids=["args-string", "command-string", "args-not-strings"],
)
def test_container_lists_are_stricter_than_polyaxon(container: dict[str, object]) -> None:
    # Polyaxon keeps these (a bare args string is even split into characters); a build
    # would then run with nonsense arguments, so polymagic refuses them up front.
    op = yaml.safe_load(SEED)
    op["runPatch"]["container"] = container
    with pytest.raises(SpecError, match=r"runPatch\.container\.(args|command)"):
        compile_operation(op)
