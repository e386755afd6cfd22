"""``RUN --mount`` build secrets and cache mounts (``polymagic.render.run_mounts``): the
Dockerfile stays Polyaxon's; each secret id the Dockerfile uses becomes one ``--secret`` argument
naming the file its connection mounts, read-only, and the secret's value is nowhere in what is
submitted; an id with no such connection is one error naming the id and the connections there
are; a cache mount without a volume says the cache is not kept."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from polymagic.errors import SpecError
from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests
from polymagic.render.run_mounts import EXECUTOR_CACHE_DIR
from polymagic.spec.loader import load_connections
from tests.data import SEED

SECRET_RUN = "--mount=type=secret,id=pip-conf,target=/etc/pip.conf pip install --index-url https://pypi.example.com/simple team-pkg"
CACHE_RUN = "--mount=type=cache,target=/root/.cache/pip pip install pandas"
CATALOG = [
    {
        "name": "docker-connection",
        "kind": "registry",
        "schema": {"url": "registry.example.com/org"},
        "secret": {"name": "regcred", "mountPath": "/kaniko/.docker"},
    },
    {
        "name": "pip-conf",
        "kind": "custom",
        "secret": {"name": "team-pip", "mountPath": "/secrets/pip", "items": ["pip.conf"]},
    },
    {
        "name": "build-cache",
        "kind": "volume_claim",
        "schema": {"volumeClaim": "kaniko-cache", "mountPath": EXECUTOR_CACHE_DIR},
    },
]


def _op(runs: list[str], connections: list[str]) -> dict[str, Any]:
    op: dict[str, Any] = yaml.safe_load(SEED)
    op["runPatch"]["init"][0]["dockerfile"]["run"] = runs
    if connections:
        op["runPatch"]["connections"] = connections
    return op


def _manifests(runs: list[str], connections: list[str]) -> Any:
    build = compile_operation(_op(runs, connections), connections=load_connections(CATALOG))
    return build_manifests(build, namespace="ml")


def _container(manifests: Any) -> dict[str, Any]:
    container: dict[str, Any] = manifests.pod["spec"]["containers"][0]
    return container


def test_a_secret_mount_becomes_one_secret_argument_and_a_read_only_mount() -> None:
    manifests = _manifests([SECRET_RUN, SECRET_RUN.replace("team-pkg", "other")], ["pip-conf"])
    args = _container(manifests)["args"]
    assert [a for a in args if a.startswith("--secret")] == [
        "--secret=id=pip-conf,src=/secrets/pip/pip.conf"
    ]
    mount = next(
        m for m in _container(manifests)["volumeMounts"] if m["mountPath"] == "/secrets/pip"
    )
    assert mount["readOnly"] is True
    volume = next(v for v in manifests.pod["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["secret"] == {
        "secretName": "team-pip",
        "items": [{"key": "pip.conf", "path": "pip.conf"}],
    }
    assert "team-pip" in manifests.secrets  # preflight checks it exists
    assert f"RUN {SECRET_RUN}" in manifests.config_map["data"]["Dockerfile"]


def test_the_secret_reaches_the_executor_as_a_file_not_as_an_argument_or_variable() -> None:
    manifests = _manifests([SECRET_RUN], ["pip-conf"])
    container = _container(manifests)
    # The executor reads the value from the mounted file: no env entry and no argument carry
    # it, and the only mention of the Secret in what is submitted is the volume's secretName.
    assert "team-pip" not in json.dumps(container.get("env", []) + container.get("envFrom", []))
    assert "team-pip" not in json.dumps(container["args"])
    assert json.dumps([manifests.config_map, manifests.pod]).count("team-pip") == 1


@pytest.mark.parametrize(
    ("connections", "have"),
    [([], "`docker-connection`"), (["build-cache"], "`docker-connection`, `build-cache`")],
    ids=["none-listed", "other-listed"],
)
def test_a_secret_id_without_its_connection_is_one_error_naming_both(
    connections: list[str], have: str
) -> None:
    with pytest.raises(SpecError, match=r"id=pip-conf: no connection `pip-conf`") as refused:
        _manifests([SECRET_RUN], connections)
    message = str(refused.value)
    assert f"among the run's connections ({have})" in message
    assert "\n" not in message.split(": ", 1)[1]


def test_a_secret_connection_must_name_its_key() -> None:
    catalog = [dict(c) for c in CATALOG]
    catalog[1] = {**catalog[1], "secret": {"name": "team-pip", "mountPath": "/secrets/pip"}}
    build = compile_operation(
        _op([SECRET_RUN], ["pip-conf"]), connections=load_connections(catalog)
    )
    with pytest.raises(SpecError, match=r"connection `pip-conf`: its secret must name the one key"):
        build_manifests(build)


def test_a_cache_mount_without_a_volume_says_the_cache_is_not_kept() -> None:
    manifests = _manifests([CACHE_RUN], [])
    (note,) = [w for w in manifests.warnings if "--mount=type=cache" in w]
    assert note.startswith(
        "1 RUN --mount=type=cache folder(s) work during this build but are not kept"
    )


def test_a_cache_volume_is_mounted_at_the_executors_cache_folder() -> None:
    manifests = _manifests([CACHE_RUN], ["build-cache"])
    assert not [w for w in manifests.warnings if "--mount=type=cache" in w]
    mount = next(
        m for m in _container(manifests)["volumeMounts"] if m["mountPath"] == EXECUTOR_CACHE_DIR
    )
    volume = next(v for v in manifests.pod["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["persistentVolumeClaim"] == {"claimName": "kaniko-cache"}
    assert mount["readOnly"] is False


@pytest.mark.oracle
def test_polyaxon_renders_the_mount_lines_the_same() -> None:
    from polymagic.render.dockerfile import render_dockerfile
    from polymagic.spec.loader import load_dockerfile_init
    from tests.oracle.harness import run_oracle

    bodies = [
        {"image": "python:3.12-slim", "run": [SECRET_RUN, CACHE_RUN]},
        {"image": "python:3.12-slim", "run": [f"{SECRET_RUN} && \\\n  echo done"]},
    ]
    results = run_oracle([{"kind": "dockerfile", "body": body} for body in bodies])
    for body, result in zip(bodies, results, strict=True):
        assert result == {"ok": render_dockerfile(load_dockerfile_init(body))}


def test_a_secret_mounted_where_the_executor_copies_secrets_is_refused() -> None:
    # The real executor copies each build secret to /kaniko/secrets/<id>: a Secret mounted there
    # made it fail with "open /kaniko/secrets/token: is a directory" (seen with the real one).
    catalog = [dict(c) for c in CATALOG]
    secret = {"name": "team-pip", "mountPath": "/kaniko/secrets/pip-conf", "items": ["pip.conf"]}
    catalog[1] = {**catalog[1], "secret": secret}
    build = compile_operation(
        _op([SECRET_RUN], ["pip-conf"]), connections=load_connections(catalog)
    )
    with pytest.raises(SpecError, match=r"inside /kaniko/secrets, where the executor copies"):
        build_manifests(build)
