"""Executor options in the pod, the default executor image, and the spec hash's definition."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from polymagic.errors import SpecError
from polymagic.render.build_objects import (
    DEFAULT_EXECUTOR_IMAGE,
    KanikoOptions,
    hash_tag_of,
    registry_host,
)
from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests, spec_hash_of
from polymagic.spec.loader import load_connections
from tests.data import REGISTRY, SEED


def _args(**options: object) -> list[str]:
    build = compile_operation(SEED, connections=load_connections(REGISTRY))
    manifests = build_manifests(build, kaniko=KanikoOptions(**options))  # type: ignore[arg-type]
    return list(manifests.pod["spec"]["containers"][0]["args"])


def test_options_become_executor_flags() -> None:
    args = _args(
        build_args=(("PY", "3.11"), ("X", "a=b")),
        target="runtime",
        tags=(":v2", "other.io/team/app:1"),
        reproducible=True,
        snapshot_mode="redo",
        insecure_registries=("reg.local:5000",),
        skip_tls_verify_registries=("self.signed:443",),
        cache_repo="registry.example.com/org/cache",
    )
    for flag in (
        "--build-arg=PY=3.11",
        "--build-arg=X=a=b",
        "--target=runtime",
        "--reproducible",
        "--snapshot-mode=redo",
        "--insecure-registry=reg.local:5000",
        "--skip-tls-verify-registry=self.signed:443",
        "--cache-repo=registry.example.com/org/cache",
    ):
        assert flag in args
    destinations = [args[i + 1] for i, a in enumerate(args) if a in ("-d", "--destination")]
    assert destinations[:3] == [
        "registry.example.com/org/polyaxon/polyaxon-quick-start",
        "registry.example.com/org/polyaxon/polyaxon-quick-start:v2",
        "other.io/team/app:1",
    ]
    assert destinations[3].startswith(
        "registry.example.com/org/polyaxon/polyaxon-quick-start:spec-"
    )


def test_hash_tag_can_be_turned_off() -> None:
    assert not any(":spec-" in a for a in _args(hash_tag=False))


def test_default_executor_is_a_pinned_maintained_fork_and_overridable() -> None:
    build = compile_operation(SEED)
    assert (
        build.run_dict["container"]["image"] == "gcr.io/kaniko-project/executor:latest"
    )  # Polyaxon's
    assert build_manifests(build).executor_image == DEFAULT_EXECUTOR_IMAGE
    assert (
        build_manifests(build, executor_image="my.io/kaniko:1").executor_image == "my.io/kaniko:1"
    )
    op = yaml.safe_load(SEED)
    op["runPatch"]["container"] = {"image": "chainguard/kaniko:1.25"}
    assert build_manifests(compile_operation(op)).executor_image == "chainguard/kaniko:1.25"


def test_connection_marked_insecure_adds_its_registry() -> None:
    insecure = [{**REGISTRY[0], "schema": {"url": "reg.local:5000/team", "insecure": True}}]
    build = compile_operation(SEED, connections=load_connections(insecure))
    args = build_manifests(build).pod["spec"]["containers"][0]["args"]
    assert "--insecure-registry=reg.local:5000" in args


def test_scheduling_options() -> None:
    build = compile_operation(SEED)
    pod = build_manifests(
        build,
        kaniko=KanikoOptions(
            resources={"requests": {"cpu": "2"}, "limits": {"cpu": "2"}},
            node_selector={"pool": "build"},
            tolerations=({"key": "build", "operator": "Exists"},),
            service_account="builder",
        ),
    ).pod
    assert pod["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "2", "ephemeral-storage": "1Gi"},
        "limits": {"cpu": "2"},
    }
    assert pod["spec"]["nodeSelector"] == {"pool": "build"}
    assert pod["spec"]["tolerations"] == [{"key": "build", "operator": "Exists"}]
    assert pod["spec"]["serviceAccountName"] == "builder"


def test_resource_options_set_their_amounts_and_keep_the_operations_others() -> None:
    op = yaml.safe_load(SEED)
    op["runPatch"]["container"] = {
        "resources": {
            "requests": {"memory": "1Gi", "ephemeral-storage": "8Gi"},
            "limits": {"memory": "2Gi", "cpu": "4"},
        }
    }
    build = compile_operation(op)
    given = {"requests": {"cpu": "2"}, "limits": {"cpu": "2"}}
    pod = build_manifests(build, kaniko=KanikoOptions(resources=given)).pod
    assert pod["spec"]["containers"][0]["resources"] == {
        "requests": {"memory": "1Gi", "ephemeral-storage": "8Gi", "cpu": "2"},
        "limits": {"memory": "2Gi", "cpu": "2"},
    }
    # Neither the operation nor the options are changed by the merge.
    assert given == {"requests": {"cpu": "2"}, "limits": {"cpu": "2"}}
    again = build_manifests(build).pod["spec"]["containers"][0]["resources"]
    assert again["limits"] == {"memory": "2Gi", "cpu": 4}  # Polyaxon reads "4" as a number


@pytest.mark.parametrize(
    ("options", "message"),
    [({"snapshot_mode": "fast"}, "snapshot mode"), ({"build_args": (("", "x"),)}, "build arg")],
)
def test_bad_options_are_spec_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        KanikoOptions(**options)  # type: ignore[arg-type]


def test_spec_hash_covers_content_not_destinations() -> None:
    build = compile_operation(SEED)
    other_destination = compile_operation(SEED, params=["destination=x/y:9"])
    changed = compile_operation(SEED.replace("-U polyaxon", "-U polyaxon==2.18.0"))
    base = spec_hash_of(build, DEFAULT_EXECUTOR_IMAGE, KanikoOptions())
    assert spec_hash_of(other_destination, DEFAULT_EXECUTOR_IMAGE, KanikoOptions()) == base
    assert spec_hash_of(changed, DEFAULT_EXECUTOR_IMAGE, KanikoOptions()) != base
    assert (
        spec_hash_of(build, DEFAULT_EXECUTOR_IMAGE, KanikoOptions(build_args=(("A", "1"),))) != base
    )
    assert spec_hash_of(build, DEFAULT_EXECUTOR_IMAGE, KanikoOptions(target="t")) != base
    assert spec_hash_of(build, "other/kaniko:1", KanikoOptions()) != base
    assert spec_hash_of(build, DEFAULT_EXECUTOR_IMAGE, KanikoOptions(), context_sha256="ab") != base
    assert spec_hash_of(build, DEFAULT_EXECUTOR_IMAGE, KanikoOptions(cache_repo="r/c")) == base


@pytest.mark.parametrize(
    ("reference", "host", "hash_tag"),
    [
        (
            "registry.example.com/org/app:1",
            "registry.example.com",
            "registry.example.com/org/app:spec-",
        ),
        ("localhost:5000/app", "localhost:5000", "localhost:5000/app:spec-"),
        ("team/app:latest", "docker.io", "team/app:spec-"),
        ("app@sha256:" + "a" * 64, "docker.io", "app:spec-"),
    ],
)
def test_references(reference: str, host: str, hash_tag: str) -> None:
    assert registry_host(reference) == host
    assert hash_tag_of(reference, "f" * 64) == hash_tag + "f" * 20


def test_context_only_params_carry_options_in_the_spec() -> None:
    op = yaml.safe_load(SEED)
    op["params"].update(
        {
            "build_args": {"value": {"PY": "3.11"}, "contextOnly": True},
            "target": {"value": "runtime", "contextOnly": True},
            "tags": {"value": [":v2"], "contextOnly": True},
        }
    )
    build = compile_operation(op)
    args = build_manifests(build, kaniko=KanikoOptions(build_args=(("EXTRA", "1"),))).pod["spec"][
        "containers"
    ][0]["args"]
    assert "--build-arg=PY=3.11" in args
    assert "--build-arg=EXTRA=1" in args
    assert "--target=runtime" in args
    assert "polyaxon/polyaxon-quick-start:v2" in args
    bad = yaml.safe_load(SEED)
    bad["params"]["build_args"] = {"value": ["PY=3.11"], "contextOnly": True}
    with pytest.raises(SpecError, match="build_args"):
        build_manifests(compile_operation(bad))


@pytest.mark.parametrize("version", ["1.25", "latest"])
def test_manifests_with_every_option_and_a_local_context_are_valid_kubernetes(
    version: str, tmp_path: Path
) -> None:
    import kubernetes_validate  # type: ignore[import-untyped]
    from kubernetes_validate.utils import all_versions  # type: ignore[import-untyped]

    from polymagic.render.context import pack_build_context

    (tmp_path / "requirements.txt").write_text("numpy\n")
    op = yaml.safe_load(SEED)
    op["runPatch"]["init"][0]["dockerfile"]["copy"] = ["requirements.txt"]
    build = compile_operation(op, connections=load_connections(REGISTRY))
    options = KanikoOptions(
        build_args=(("PY", "3.11"),), target="t", tags=(":v2",), reproducible=True, snapshot_mode="redo",
        insecure_registries=("r.local:5000",), cache_repo="r.local:5000/cache",
        resources={"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}, node_selector={"pool": "b"},
        tolerations=({"key": "b", "operator": "Exists"},), service_account="builder",
    )  # fmt: skip
    manifests = build_manifests(build, kaniko=options, context=pack_build_context(build, tmp_path))
    chosen = all_versions()[0] if version == "1.25" else kubernetes_validate.latest_version()
    for obj in manifests.objects():
        assert kubernetes_validate.validate(obj, chosen, strict=True)
    assert "context.tar.gz" in manifests.config_map["binaryData"]
