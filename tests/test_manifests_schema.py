"""The Kubernetes objects of a build: valid against the API schemas, and true to the contract.

Every ConfigMap and Pod ``build_manifests`` returns, for a range of builds, is validated in
STRICT mode (unknown fields rejected) with ``kubernetes-validate`` against the oldest and the
newest Kubernetes schema it ships. Then the points the rest of polymagic (and the user) rely on
are checked one by one: a pod that never restarts and gets no service-account token; the build
context ConfigMap mounted read-only where the component's ``-c`` points; the registry secret
mounted read-only with the right ``items`` for its shape; ``--dockerfile`` and
``--digest-file`` added only to the pod; empty args dropped in the pod but kept in the compiled
run; labels, DNS-1123 names and a spec hash that is stable for the same input and changes with
the Dockerfile; the deadline; the ConfigMap size limit; and the ``https://`` of a registry URL
stripped in the pod only.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from kubernetes_validate.utils import all_versions  # type: ignore[import-untyped]

from polymagic.errors import SpecError
from polymagic.render.build_objects import (
    LABEL_MANAGED_BY,
    LABEL_SPEC_HASH,
    BuildManifests,
    SecretShape,
)
from polymagic.render.compiler import ARTIFACTS_PATH, CompiledBuild, compile_operation
from polymagic.render.manifests import CONFIGMAP_LIMIT, build_manifests
from polymagic.spec.loader import load_connections

# The oldest and the newest Kubernetes version the installed kubernetes-validate ships schemas for.
K8S_VERSIONS = sorted({all_versions()[0], kubernetes_validate.latest_version()})

SEED: dict[str, Any] = yaml.safe_load(
    """\
version: 1
kind: operation
name: build
params:
  destination: {connection: docker-connection, value: polyaxon/polyaxon-quick-start}
runPatch:
  init:
  - dockerfile: {image: "tensorflow/tensorflow:2.0.1-py3", run: ["pip3 install --no-cache-dir -U polyaxon"], langEnv: "en_US.UTF-8"}
hubRef: kaniko
"""
)
DESTINATION = "polyaxon/polyaxon-quick-start"

REGISTRY = {
    "name": "docker-connection",
    "kind": "registry",
    "schema": {"url": "registry.example.com/org"},
    "secret": {"name": "docker-conf", "mountPath": "/kaniko/.docker"},
}
REGCRED = {**REGISTRY, "secret": {"name": "regcred", "mountPath": "/kaniko/.docker"}}
HTTPS_REGISTRY = {**REGISTRY, "schema": {"url": "https://registry.example.com/org/"}}
ENV_SECRET = {**REGISTRY, "secret": {"name": "registry-env"}}
MOUNTED_CONFIG_MAP = {
    "name": "settings",
    "kind": "custom",
    "configMap": {"name": "settings-cm", "mountPath": "/etc/settings", "items": ["app.conf"]},
    "env": [{"name": "SETTINGS", "value": "/etc/settings/app.conf"}],
}
ENV_CONFIG_MAP = {"name": "env-settings", "kind": "custom", "configMap": {"name": "env-cm"}}

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z"
)
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")


def _seed(**changes: Any) -> dict[str, Any]:
    """The seed operation with ``changes`` deep-merged into it (lists replaced)."""

    def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
        for key, value in extra.items():
            if isinstance(value, Mapping) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = copy.deepcopy(value)
        return base

    return merge(copy.deepcopy(SEED), changes)


def _dockerfile(**fields: Any) -> dict[str, Any]:
    body = {**SEED["runPatch"]["init"][0]["dockerfile"], **fields}
    return {"dockerfile": body}


@dataclass(frozen=True)
class Case:
    operation: dict[str, Any]
    connections: list[dict[str, Any]] = field(default_factory=list)
    secret_shapes: dict[str, SecretShape] = field(default_factory=dict)
    params: tuple[str, ...] = ()

    def build(self) -> CompiledBuild:
        catalog = load_connections(self.connections)
        return compile_operation(self.operation, params=list(self.params), connections=catalog)

    def manifests(self) -> tuple[CompiledBuild, BuildManifests]:
        build = self.build()
        return build, build_manifests(build, secret_shapes=self.secret_shapes)


CASES: dict[str, Case] = {
    "seed": Case(SEED),
    "registry-secret-mounted": Case(SEED, [REGISTRY]),
    "dockerconfigjson-secret": Case(SEED, [REGCRED], {"regcred": SecretShape.DOCKERCONFIGJSON}),
    "generic-secret-shape-explicit": Case(
        SEED, [REGISTRY], {"docker-conf": SecretShape.CONFIG_JSON}
    ),
    "dockerfile-filename": Case(
        _seed(runPatch={"init": [_dockerfile(filename="Dockerfile.dev")]}), [REGISTRY]
    ),
    "termination-timeout": Case(_seed(termination={"timeout": 600}), [REGISTRY]),
    "environment": Case(
        _seed(
            runPatch={
                "environment": {
                    "nodeSelector": {"pool": "build", "gpu": False},
                    "tolerations": [
                        {
                            "key": "dedicated",
                            "operator": "Equal",
                            "value": "build",
                            "effect": "NoSchedule",
                        }
                    ],
                    "serviceAccountName": "builder",
                    "labels": {"team": "ml", "tier": 2},
                    "annotations": {"owner": "me@example.com", "ticket": 42},
                }
            }
        ),
        [REGISTRY],
    ),
    "container-resources-env": Case(
        _seed(
            runPatch={
                "container": {
                    "resources": {
                        "limits": {"cpu": "2", "memory": "4Gi"},
                        "requests": {"cpu": 1, "memory": "1Gi"},
                    },
                    "env": [
                        {"name": "HTTP_PROXY", "value": "http://proxy:3128"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    ],
                }
            }
        ),
        [REGISTRY],
    ),
    "file-init": Case(
        _seed(
            runPatch={
                "init": [
                    *SEED["runPatch"]["init"],
                    {"file": {"content": "numpy==1.26\n", "filename": "requirements.txt"}},
                ]
            }
        ),
        [REGISTRY],
    ),
    "file-init-other-path": Case(
        _seed(
            runPatch={
                "init": [
                    *SEED["runPatch"]["init"],
                    {"file": {"content": "x"}, "path": "/plx-context/extra"},
                ]
            }
        ),
        [REGISTRY],
    ),
    "secret-without-mount-path": Case(SEED, [ENV_SECRET]),
    "config-map-connections": Case(
        _seed(runPatch={"connections": ["settings", "env-settings"]}),
        [REGISTRY, MOUNTED_CONFIG_MAP, ENV_CONFIG_MAP],
    ),
    "https-registry-url": Case(SEED, [HTTPS_REGISTRY]),
    "cache-false": Case(SEED, [REGISTRY], params=("cache=false",)),
    "everything": Case(
        _seed(
            name="a_Very_Long-operation_name_" + "x" * 80,
            termination={"timeout": 3600},
            runPatch={
                "connections": ["settings", "env-settings"],
                "environment": {
                    "nodeSelector": {"pool": "build"},
                    "serviceAccountName": "builder",
                    "labels": {"team": "ml"},
                },
                "container": {
                    "resources": {"limits": {"memory": "4Gi"}},
                    "env": [{"name": "A", "value": "1"}],
                },
                "init": [
                    _dockerfile(filename="Dockerfile.prod", env={"A": 1}, uid=1000, gid=1000),
                    {"file": {"content": "numpy\n", "filename": "requirements.txt"}},
                ],
            },
        ),
        [REGCRED, MOUNTED_CONFIG_MAP, ENV_CONFIG_MAP],
        {"regcred": SecretShape.DOCKERCONFIGJSON},
        ("cache=false", "cache_ttl=6h"),
    ),
}
CASE_IDS = list(CASES)
ALL_CASES = [pytest.param(CASES[name], id=name) for name in CASE_IDS]


def _container(manifests: BuildManifests) -> dict[str, Any]:
    containers = manifests.pod["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def _volume(manifests: BuildManifests, name: str) -> dict[str, Any]:
    matches = [v for v in manifests.pod["spec"]["volumes"] if v["name"] == name]
    assert len(matches) == 1, f"volume {name!r}: {manifests.pod['spec']['volumes']}"
    volume: dict[str, Any] = matches[0]
    return volume


def _mount_at(manifests: BuildManifests, path: str) -> dict[str, Any]:
    matches = [m for m in _container(manifests).get("volumeMounts", []) if m["mountPath"] == path]
    assert len(matches) == 1, (
        f"expected one mount at {path}: {_container(manifests).get('volumeMounts')}"
    )
    mount: dict[str, Any] = matches[0]
    return mount


def _flag_value(args: list[str], *flags: str) -> str | None:
    for index, arg in enumerate(args):
        for flag in flags:
            if arg == flag and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(f"{flag}="):
                return arg.split("=", 1)[1]
    return None


# -- schema validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_validator_is_strict(version: str) -> None:
    """The validator itself rejects an unknown field and a wrong type: passing means something."""
    _, manifests = CASES["seed"].manifests()
    good = copy.deepcopy(manifests.pod)
    assert kubernetes_validate.validate(good, version, strict=True)
    unknown = copy.deepcopy(good)
    unknown["spec"]["containers"][0]["dockerfile"] = "Dockerfile"
    with pytest.raises(
        kubernetes_validate.ValidationError, match="Additional properties are not allowed"
    ):
        kubernetes_validate.validate(unknown, version, strict=True)
    wrong_type = copy.deepcopy(good)
    wrong_type["spec"]["restartPolicy"] = ["Never"]
    with pytest.raises(kubernetes_validate.ValidationError, match="is not of type 'string'"):
        kubernetes_validate.validate(wrong_type, version, strict=True)


def test_both_ends_of_the_schema_range_are_checked() -> None:
    assert len(K8S_VERSIONS) == 2, K8S_VERSIONS
    assert K8S_VERSIONS[0].startswith("1.25"), K8S_VERSIONS
    assert tuple(int(p) for p in K8S_VERSIONS[1].split(".")[:2]) >= (1, 37), K8S_VERSIONS


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("case", ALL_CASES)
def test_manifests_validate_strictly(case: Case, version: str) -> None:
    _, manifests = case.manifests()
    assert [o["kind"] for o in manifests.objects()] == ["ConfigMap", "Pod"]
    for obj in manifests.objects():
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(
                f"{obj['kind']} does not validate against {version} (strict) at {where}: {exc.message}"
            )


# -- the contract ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL_CASES)
def test_pod_never_restarts_and_gets_no_token(case: Case) -> None:
    _, manifests = case.manifests()
    spec = manifests.pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False


@pytest.mark.parametrize("case", ALL_CASES)
def test_context_config_map_is_mounted_read_only_where_the_component_reads_it(case: Case) -> None:
    build, manifests = case.manifests()
    context = _flag_value(build.run_dict["container"]["args"], "-c", "--context")
    assert context == ARTIFACTS_PATH
    mount = _mount_at(manifests, context)
    assert mount["readOnly"] is True
    source = _volume(manifests, mount["name"])["configMap"]
    assert source["name"] == manifests.config_map["metadata"]["name"] == manifests.name
    dockerfile = build.dockerfiles[0]
    data = manifests.config_map["data"]
    items = {item["path"]: item["key"] for item in source["items"]}
    assert data[items[dockerfile.filename]] == dockerfile.text


def _dockerfile_problem(build: CompiledBuild, manifests: BuildManifests) -> str | None:
    """Why Kaniko would not find the Dockerfile, or None when it would."""
    args = _container(manifests)["args"]
    context = _flag_value(args, "-c", "--context")
    if context is None:
        return f"no -c in {args}"
    named = _flag_value(args, "--dockerfile", "-f") or "Dockerfile"
    wanted = named if named.startswith("/") else f"{context.rstrip('/')}/{named}"
    dockerfile = build.dockerfiles[0]
    mount = _mount_at(manifests, dockerfile.context_path)
    items = _volume(manifests, mount["name"])["configMap"]["items"]
    if not any(item["path"] == dockerfile.filename for item in items):
        return f"{dockerfile.filename} is not among the mounted items {items}"
    written = f"{dockerfile.context_path.rstrip('/')}/{dockerfile.filename}"
    if wanted != written:
        return f"Kaniko reads {wanted}, the Dockerfile is at {written} (args {args})"
    return None


OTHER_PATH = "/plx-context/other"


@pytest.mark.parametrize(
    "case",
    [
        *ALL_CASES,
        pytest.param(
            Case(
                _seed(
                    runPatch={
                        "init": [{**_dockerfile(filename="Dockerfile.dev"), "path": OTHER_PATH}]
                    }
                ),
                [REGISTRY],
                params=(f"context={OTHER_PATH}",),
            ),
            id="dockerfile-init-path-with-context-param",
        ),
    ],
)
def test_executor_finds_the_dockerfile(case: Case) -> None:
    """Kaniko reads ``--dockerfile`` (default ``Dockerfile``) relative to ``-c``, or an absolute path."""
    build, manifests = case.manifests()
    problem = _dockerfile_problem(build, manifests)
    assert problem is None, problem


@pytest.mark.parametrize("filename", ["Dockerfile", "Dockerfile.dev"])
def test_dockerfile_outside_the_context_is_fixed_or_reported(filename: str) -> None:
    """A dockerfile init with a ``path`` the context does not cover: the pod must still work, or say why not."""
    case = Case(
        _seed(runPatch={"init": [{**_dockerfile(filename=filename), "path": OTHER_PATH}]}),
        [REGISTRY],
    )
    try:
        build, manifests = case.manifests()
    except SpecError:
        return
    problem = _dockerfile_problem(build, manifests)
    assert problem is None or any(OTHER_PATH in w for w in manifests.warnings), (
        f"{problem}; warnings: {manifests.warnings}"
    )


@pytest.mark.parametrize("case", ALL_CASES)
def test_volume_names_and_mount_paths_are_unique_and_valid(case: Case) -> None:
    _, manifests = case.manifests()
    volumes = [v["name"] for v in manifests.pod["spec"]["volumes"]]
    assert len(volumes) == len(set(volumes)), volumes
    assert all(DNS1123_LABEL.match(n) and len(n) <= 63 for n in volumes), volumes
    mounts = _container(manifests)["volumeMounts"]
    assert len({m["mountPath"] for m in mounts}) == len(mounts), mounts
    assert {m["name"] for m in mounts} <= set(volumes)
    for key in manifests.config_map["data"]:
        assert re.fullmatch(r"[-._a-zA-Z0-9]+", key), key


@pytest.mark.parametrize(
    ("connections", "shapes", "items"),
    [
        pytest.param([REGISTRY], {}, None, id="generic-default"),
        pytest.param(
            [REGISTRY], {"docker-conf": SecretShape.CONFIG_JSON}, None, id="generic-explicit"
        ),
        pytest.param(
            [REGCRED],
            {"regcred": SecretShape.DOCKERCONFIGJSON},
            [{"key": ".dockerconfigjson", "path": "config.json"}],
            id="dockerconfigjson",
        ),
    ],
)
def test_registry_secret_mounted_read_only(
    connections: list[dict[str, Any]],
    shapes: dict[str, SecretShape],
    items: list[dict[str, str]] | None,
) -> None:
    _, manifests = Case(SEED, connections, shapes).manifests()
    secret = connections[0]["secret"]
    mount = _mount_at(manifests, secret["mountPath"])
    assert mount["readOnly"] is True
    source = _volume(manifests, mount["name"])["secret"]
    assert source["secretName"] == secret["name"]
    if items is None:
        assert "items" not in source
    else:
        assert source["items"] == items
    assert secret["name"] in manifests.secrets
    assert "envFrom" not in _container(manifests)


def test_secret_without_mount_path_becomes_env_from() -> None:
    _, manifests = CASES["secret-without-mount-path"].manifests()
    container = _container(manifests)
    assert {"secretRef": {"name": "registry-env"}} in container["envFrom"]
    assert not any("secret" in v for v in manifests.pod["spec"]["volumes"])
    assert "registry-env" in manifests.secrets


def test_config_map_connections_are_mounted_or_env_from() -> None:
    _, manifests = CASES["config-map-connections"].manifests()
    container = _container(manifests)
    mount = _mount_at(manifests, "/etc/settings")
    assert mount["readOnly"] is True
    assert _volume(manifests, mount["name"])["configMap"] == {
        "name": "settings-cm",
        "items": [{"key": "app.conf", "path": "app.conf"}],
    }
    assert {"configMapRef": {"name": "env-cm"}} in container["envFrom"]
    assert {"name": "SETTINGS", "value": "/etc/settings/app.conf"} in container["env"]


@pytest.mark.parametrize(
    ("filename", "extra_args", "expected"),
    [
        pytest.param(None, [], None, id="default-filename"),
        pytest.param("Dockerfile", [], None, id="explicit-Dockerfile"),
        pytest.param("Dockerfile.dev", [], "Dockerfile.dev", id="custom-filename"),
        pytest.param(
            "Dockerfile.dev", ["--dockerfile=other"], "other", id="args-name-one-with-equals"
        ),
        pytest.param(
            "Dockerfile.dev", ["-f", "other"], "other", id="args-name-one-with-short-flag"
        ),
        pytest.param(
            "Dockerfile.dev", ["--dockerfile", "other"], "other", id="args-name-one-with-long-flag"
        ),
        pytest.param(
            "Dockerfile", ["--dockerfile=other"], "other", id="default-filename-args-name-one"
        ),
    ],
)
def test_dockerfile_flag_added_only_when_needed(
    filename: str | None, extra_args: list[str], expected: str | None
) -> None:
    fields = {} if filename is None else {"filename": filename}
    patch: dict[str, Any] = {"init": [_dockerfile(**fields)]}
    if extra_args:
        patch["container"] = {"args": extra_args}
    build, manifests = Case(_seed(runPatch=patch), [REGISTRY]).manifests()
    args = _container(manifests)["args"]
    named = [
        a for a in args if a in ("-f", "--dockerfile") or a.startswith(("--dockerfile=", "-f="))
    ]
    if expected is None:
        assert named == [], args
    else:
        assert len(named) == 1, args
        assert _flag_value(args, "--dockerfile", "-f") == expected
    # The compiled component is never given a --dockerfile of polymagic's own.
    assert not any(
        a.startswith("--dockerfile=Dockerfile") for a in build.run_dict["container"]["args"]
    )


@pytest.mark.parametrize("case", ALL_CASES)
def test_digest_file_in_pod_only(case: Case) -> None:
    build, manifests = case.manifests()
    args = _container(manifests)["args"]
    assert args.count("--digest-file=/dev/termination-log") == 1, args
    assert not any("digest-file" in a for a in build.run_dict["container"]["args"])


def test_empty_args_dropped_in_pod_but_kept_in_component() -> None:
    build, manifests = CASES["cache-false"].manifests()
    compiled = build.run_dict["container"]["args"]
    assert "" in compiled, compiled
    pod_args = _container(manifests)["args"]
    assert "" not in pod_args
    assert "--cache" not in pod_args
    # The pod adds only the digest file and the spec-hash tag to the compiled arguments.
    added = {"--digest-file=/dev/termination-log", "--destination", manifests.destinations[-1]}
    assert [a for a in compiled if a] == [a for a in pod_args if a not in added]


@pytest.mark.parametrize("case", ALL_CASES)
def test_labels_and_name(case: Case) -> None:
    _, manifests = case.manifests()
    for obj in manifests.objects():
        metadata = obj["metadata"]
        labels = metadata["labels"]
        assert labels[LABEL_MANAGED_BY] == "polymagic"
        assert re.fullmatch(r"[0-9a-f]{32}", labels[LABEL_SPEC_HASH])
        assert manifests.spec_hash.startswith(labels[LABEL_SPEC_HASH])
        assert metadata["name"] == manifests.name
        assert metadata["namespace"] == manifests.namespace
        _check_labels(labels)
        assert all(isinstance(v, str) for v in metadata["annotations"].values())
    assert DNS1123_LABEL.match(manifests.name), manifests.name
    assert len(manifests.name) <= 63, manifests.name


def _check_labels(labels: Mapping[str, Any]) -> None:
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        assert LABEL_NAME.match(name), f"label key {key!r}"
        assert len(name) <= 63, f"label key {key!r}"
        if prefix:
            assert DNS1123_SUBDOMAIN.match(prefix), f"label key {key!r}"
            assert len(prefix) <= 253, f"label key {key!r}"
        assert isinstance(value, str), f"label {key}={value!r}"
        assert LABEL_VALUE.match(value), f"label {key}={value!r}"
        assert len(value) <= 63, f"label {key}={value!r}"


ODD_NAMES = [
    "build",
    "a" * 63,
    "a" * 64,
    "b" * 300,
    "UPPER_case-Name",
    "___",
    "-",
    "-leading-and-trailing-",
    "_x_",
    "9" * 80,
    "a--b__c",
    "{{ globals.name }}",
    "{{ 名前 }}",
    "x" * 39 + "-" + "y" * 30,
]


@pytest.mark.parametrize("name", ODD_NAMES, ids=lambda n: n[:24])
@pytest.mark.parametrize("where", ["operation", "component"])
def test_name_is_dns_1123_for_odd_names(name: str, where: str) -> None:
    if where == "operation":
        operation = _seed(name=name)
    else:
        # An inline component with the odd name, and an operation without a name.
        operation = _seed()
        del operation["name"]
        del operation["hubRef"]
        operation["component"] = {
            "kind": "component",
            "name": name,
            "inputs": [{"name": "destination", "type": "image"}],
            "run": {
                "kind": "job",
                "container": {
                    "image": "gcr.io/kaniko-project/executor:latest",
                    "args": ["-c", "{{ globals.artifacts_path }}", "-d", "{{ destination }}"],
                },
            },
        }
    _, manifests = Case(operation, [REGISTRY]).manifests()
    assert DNS1123_LABEL.match(manifests.name), manifests.name
    assert len(manifests.name) <= 63
    for obj in manifests.objects():
        assert obj["metadata"]["name"] == manifests.name
        _check_labels(obj["metadata"]["labels"])


def test_same_input_same_name_and_hash_different_dockerfile_different_hash() -> None:
    first = Case(SEED, [REGISTRY]).manifests()[1]
    again = Case(copy.deepcopy(SEED), [REGISTRY]).manifests()[1]
    assert (first.name, first.spec_hash) == (again.name, again.spec_hash)
    assert first.pod == again.pod
    assert first.config_map == again.config_map
    changed = Case(
        _seed(runPatch={"init": [_dockerfile(run=["pip3 install polyaxon==2.18"])]}), [REGISTRY]
    ).manifests()[1]
    assert changed.spec_hash != first.spec_hash
    assert changed.name != first.name
    assert (
        changed.pod["metadata"]["labels"][LABEL_SPEC_HASH]
        != first.pod["metadata"]["labels"][LABEL_SPEC_HASH]
    )


def test_same_input_same_name_across_input_forms() -> None:
    from_dict = Case(SEED, [REGISTRY]).manifests()[1]
    text = yaml.safe_dump(SEED, sort_keys=False)
    build = compile_operation(text, connections=load_connections([REGISTRY]))
    from_text = build_manifests(build)
    assert (from_dict.name, from_dict.spec_hash) == (from_text.name, from_text.spec_hash)


@pytest.mark.parametrize(
    ("termination", "expected"),
    [
        pytest.param(None, 3600, id="no-termination"),
        pytest.param({"timeout": 600}, 600, id="timeout-600"),
        pytest.param({"timeout": 1}, 1, id="timeout-1"),
        pytest.param({"timeout": 7200}, 3600, id="overall-timeout-is-shorter"),
        pytest.param({"maxRetries": 2}, 3600, id="retries-only"),
    ],
)
def test_active_deadline_from_termination_timeout(
    termination: dict[str, Any] | None, expected: int
) -> None:
    """Always a deadline, so a build whose client died cannot run for ever: the overall
    timeout (3600 s by default), or the operation's shorter ``termination.timeout``."""
    operation = _seed() if termination is None else _seed(termination=termination)
    _, manifests = Case(operation, [REGISTRY]).manifests()
    assert manifests.pod["spec"].get("activeDeadlineSeconds") == expected


@pytest.mark.parametrize("timeout", [0, -1, -600], ids=lambda t: f"timeout{t}")
def test_non_positive_timeout_is_refused_or_left_out(timeout: int) -> None:
    """Kubernetes rejects activeDeadlineSeconds <= 0: polymagic must not put one in the pod."""
    try:
        _, manifests = Case(_seed(termination={"timeout": timeout}), [REGISTRY]).manifests()
    except SpecError:
        return
    deadline = manifests.pod["spec"].get("activeDeadlineSeconds")
    assert deadline is None or deadline > 0, f"activeDeadlineSeconds={deadline}"


def _with_file(content: str) -> Case:
    init = [*SEED["runPatch"]["init"], {"file": {"content": content, "filename": "big.txt"}}]
    return Case(_seed(runPatch={"init": init}), [REGISTRY])


def test_config_map_payload_over_the_limit_is_a_spec_error() -> None:
    build = Case(SEED, [REGISTRY]).build()
    used = len(build.dockerfiles[0].text.encode()) + len("Dockerfile") + len("big.txt")
    at_limit = _with_file("a" * (CONFIGMAP_LIMIT - used))
    assert len(at_limit.manifests()[1].config_map["data"]["big.txt"]) == CONFIGMAP_LIMIT - used
    with pytest.raises(SpecError, match="more than a ConfigMap holds"):
        _with_file("a" * (CONFIGMAP_LIMIT - used + 1)).manifests()
    # The limit is on bytes: 2-byte characters count twice.
    with pytest.raises(SpecError, match="more than a ConfigMap holds"):
        _with_file("é" * (CONFIGMAP_LIMIT // 2 + 1)).manifests()


@pytest.mark.parametrize(
    ("url", "pod_destination"),
    [
        pytest.param(
            "https://registry.example.com/org",
            "registry.example.com/org/" + DESTINATION,
            id="https",
        ),
        pytest.param(
            "http://registry.example.com:5000/org",
            "registry.example.com:5000/org/" + DESTINATION,
            id="http-port",
        ),
        pytest.param(
            "https://registry.example.com/org/",
            "registry.example.com/org/" + DESTINATION,
            id="https-trailing-slash",
        ),
        pytest.param(
            "registry.example.com/org", "registry.example.com/org/" + DESTINATION, id="no-scheme"
        ),
    ],
)
def test_registry_url_scheme_stripped_in_pod_only(url: str, pod_destination: str) -> None:
    registry = {**REGISTRY, "schema": {"url": url}}
    build, manifests = Case(SEED, [registry]).manifests()
    compiled = _flag_value(build.run_dict["container"]["args"], "-d", "--destination")
    assert compiled == f"{url}/{DESTINATION}"
    assert _flag_value(_container(manifests)["args"], "-d", "--destination") == pod_destination
    assert manifests.destinations[0] == pod_destination
    assert manifests.destinations[1] == f"{pod_destination}:spec-{manifests.spec_hash[:20]}"
    has_scheme = url.startswith(("http://", "https://"))
    assert any("scheme" in w for w in manifests.warnings) == has_scheme


def test_compiled_build_is_not_changed_by_build_manifests() -> None:
    build = CASES["everything"].build()
    before = copy.deepcopy(build.run_dict)
    build_manifests(build, secret_shapes={"regcred": SecretShape.DOCKERCONFIGJSON})
    assert build.run_dict == before


@pytest.mark.parametrize(
    "connections",
    [
        pytest.param(
            [
                {"name": "a_b", "kind": "registry", "secret": {"name": "one", "mountPath": "/one"}},
                {"name": "a-b", "kind": "registry", "secret": {"name": "two", "mountPath": "/two"}},
            ],
            id="names-differing-by-underscore",
        ),
        pytest.param(
            [
                {
                    "name": "c" * 60,
                    "kind": "custom",
                    "secret": {"name": "s", "mountPath": "/s"},
                    "configMap": {"name": "m", "mountPath": "/m"},
                }
            ],
            id="long-name-with-secret-and-config-map",
        ),
    ],
)
def test_connection_volumes_get_distinct_names(connections: list[dict[str, Any]]) -> None:
    names = [c["name"] for c in connections]
    case = Case(_seed(runPatch={"connections": names}), [REGISTRY, *connections])
    _, manifests = case.manifests()
    volumes = [v["name"] for v in manifests.pod["spec"]["volumes"]]
    assert len(volumes) == len(set(volumes)), volumes
    mounts = _container(manifests)["volumeMounts"]
    assert {m["name"] for m in mounts} == set(volumes)
