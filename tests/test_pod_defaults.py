"""The build pod's safe defaults, and Kubernetes' naming rules checked before anything is submitted.

Pure tests on ``build_manifests``; ``tests/test_kube_names_cluster.py`` checks the same rules against
the real API server (server-side dry run), so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from polymagic.errors import SpecError
from polymagic.render.build_objects import EPHEMERAL_STORAGE_REQUEST, KanikoOptions
from polymagic.render.compiler import compile_operation
from polymagic.render.kube_names import (
    ANNOTATIONS_LIMIT,
    check_annotations,
    check_config_map_key,
    check_labels,
    check_namespace,
)
from polymagic.render.manifests import build_manifests
from polymagic.spec.loader import load_connections
from tests.data import REGISTRY, SEED


def _manifests(
    environment: dict[str, Any] | None = None, **kwargs: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    op = yaml.safe_load(SEED)
    if environment is not None:
        op["runPatch"]["environment"] = environment
    build = compile_operation(op, connections=load_connections(REGISTRY))
    manifests = build_manifests(build, **kwargs)
    return manifests.pod, manifests.config_map


def test_pod_runs_with_the_runtime_default_seccomp_profile() -> None:
    pod, _ = _manifests()
    assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_an_operation_security_context_is_kept_and_completed() -> None:
    pod, _ = _manifests({"securityContext": {"runAsUser": 0, "fsGroup": 1000}})
    assert pod["spec"]["securityContext"] == {
        "runAsUser": 0,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_an_operation_seccomp_profile_wins() -> None:
    pod, _ = _manifests({"securityContext": {"seccompProfile": {"type": "Unconfined"}}})
    assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "Unconfined"}


def test_the_executor_asks_for_scratch_space() -> None:
    pod, _ = _manifests()
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"ephemeral-storage": EPHEMERAL_STORAGE_REQUEST}}


def test_given_resources_are_completed_without_being_changed_in_place() -> None:
    given = {"requests": {"cpu": "2"}, "limits": {"memory": "4Gi"}}
    op = yaml.safe_load(SEED)
    build = compile_operation(op, connections=load_connections(REGISTRY))
    manifests = build_manifests(build, kaniko=KanikoOptions(resources=given))
    resources = manifests.pod["spec"]["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "2", "ephemeral-storage": EPHEMERAL_STORAGE_REQUEST}
    assert resources["limits"] == {"memory": "4Gi"}
    assert given == {"requests": {"cpu": "2"}, "limits": {"memory": "4Gi"}}


def test_an_ephemeral_storage_limit_is_not_second_guessed() -> None:
    given = {"limits": {"ephemeral-storage": "20Gi"}}
    op = yaml.safe_load(SEED)
    build = compile_operation(op, connections=load_connections(REGISTRY))
    manifests = build_manifests(build, kaniko=KanikoOptions(resources=given))
    assert manifests.pod["spec"]["containers"][0]["resources"] == {
        "limits": {"ephemeral-storage": "20Gi"},
        "requests": {},
    }


@pytest.mark.parametrize(("timeout", "expected"), [(60, 60), (59.2, 60), (86400, 86400)])
def test_the_overall_timeout_is_the_pods_deadline(timeout: float, expected: int) -> None:
    pod, _ = _manifests(timeout=timeout)
    assert pod["spec"]["activeDeadlineSeconds"] == expected


def test_a_zero_timeout_is_refused() -> None:
    with pytest.raises(SpecError, match="timeout must be more than 0"):
        _manifests(timeout=0)


BAD_LABELS = [
    pytest.param({"team": "x" * 64}, "at most 63", id="value-too-long"),
    pytest.param({"team": "data science"}, "is not valid", id="value-with-space"),
    pytest.param({"team": "-ml"}, "is not valid", id="value-leading-dash"),
    pytest.param({"a b": "x"}, "label key `a b`", id="key-with-space"),
    pytest.param({"k" * 64: "x"}, "longer than 63", id="key-name-too-long"),
    pytest.param({"Example.COM/team": "x"}, "DNS name", id="key-prefix-upper-case"),
    pytest.param({"/team": "x"}, "prefix before `/` is empty", id="key-empty-prefix"),
    pytest.param({"example.com/": "x"}, "name is empty", id="key-empty-name"),
]


@pytest.mark.parametrize(("labels", "message"), BAD_LABELS)
def test_bad_labels_are_refused_naming_the_field(labels: dict[str, str], message: str) -> None:
    with pytest.raises(SpecError, match=message) as caught:
        _manifests({"labels": labels})
    assert caught.value.path == "environment.labels"


GOOD_LABELS = [
    {"team": "x" * 63},
    {"team": ""},
    {"example.com/team": "ml_2.0-a"},
    {"a" * 63: "v"},
    {"sub.example.com/" + "n" * 63: "v"},
]


@pytest.mark.parametrize("labels", GOOD_LABELS, ids=range(len(GOOD_LABELS)))
def test_valid_labels_pass(labels: dict[str, str]) -> None:
    pod, _ = _manifests({"labels": labels})
    for key, value in labels.items():
        assert pod["metadata"]["labels"][key] == value


def test_a_bad_annotation_key_is_refused() -> None:
    with pytest.raises(SpecError, match="annotation key `no spaces`") as caught:
        _manifests({"annotations": {"no spaces": "x"}})
    assert caught.value.path == "environment.annotations"


def test_long_annotation_values_pass_but_not_past_the_total_limit() -> None:
    pod, _ = _manifests({"annotations": {"note": "x" * 100_000}})
    assert len(pod["metadata"]["annotations"]["note"]) == 100_000
    with pytest.raises(SpecError, match=f"allows {ANNOTATIONS_LIMIT} bytes"):
        _manifests({"annotations": {"note": "x" * ANNOTATIONS_LIMIT}})


@pytest.mark.parametrize(
    "namespace", ["ML", "ml_team", "-ml", "ml-", "a" * 64, "", "ml.team"], ids=repr
)
def test_bad_namespaces_are_refused_before_anything_is_built(namespace: str) -> None:
    with pytest.raises(SpecError, match="is not a valid name") as caught:
        _manifests(namespace=namespace)
    assert caught.value.path == "namespace"


def test_checks_accept_what_polymagic_writes_itself() -> None:
    pod, config_map = _manifests(namespace="a" * 63)
    for obj in (pod, config_map):
        check_labels(obj["metadata"]["labels"], "x")
        check_annotations(obj["metadata"]["annotations"], "x")
        check_namespace(obj["metadata"]["namespace"])
    for key in config_map["data"]:
        check_config_map_key(key, "x")


@pytest.mark.parametrize("key", [".", "..", "a/b", "a b", "k" * 254, ""], ids=repr)
def test_bad_config_map_keys(key: str) -> None:
    with pytest.raises(SpecError, match="cannot be a file name"):
        check_config_map_key(key, "runPatch.init[0].dockerfile.filename")
