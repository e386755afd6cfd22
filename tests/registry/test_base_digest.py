"""The base image's digest, resolved before a build (``polymagic.app.base_digest``) from Debian's
registry: the plan shows ``FROM image  → sha256:…``, the image's ``base.digest`` annotation and
the build's own record keep it, ``--pin-base`` writes it into the Dockerfile and nothing else
changes, without ``--pin-base`` the Dockerfile stays byte for byte as rendered; a registry that
cannot tell (down, refusing) is a warning and the build goes on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from polymagic.app.settings import defaults
from polymagic.app.workflow import BuildPlan, plan_build
from polymagic.cli.main import _parser
from polymagic.config import compile_with_connections, find_connections
from polymagic.render.annotations import KEY_BASE_DIGEST, pin_base
from polymagic.render.manifests import build_manifests
from tests.data import SEED
from tests.registry.server import RegistryServer, push_test_image


def _plan(
    tmp_path: Path, base: str, registry_host: str, *extra: str, insecure: bool = True
) -> BuildPlan:
    op: dict[str, Any] = yaml.safe_load(SEED)
    op["runPatch"]["init"][0]["dockerfile"]["image"] = base
    (tmp_path / "op.yaml").write_text(yaml.safe_dump(op))
    catalog = [
        {
            "name": "docker-connection",
            "kind": "registry",
            "schema": {"url": f"{registry_host}/out", "insecure": insecure},
        }
    ]
    (tmp_path / "connections.yaml").write_text(yaml.safe_dump(catalog))
    argv = ["build", str(tmp_path / "op.yaml"), "--connections", str(tmp_path / "connections.yaml")]
    args = _parser().parse_args([*argv, *extra])
    return plan_build(op, args, defaults(), context_dir=tmp_path)


def _unpinned(plan: BuildPlan, tmp_path: Path) -> str:
    op = yaml.safe_load((tmp_path / "op.yaml").read_text())
    source = find_connections(str(tmp_path / "connections.yaml"))
    return compile_with_connections(op, source).dockerfiles[0].text


def test_the_plan_shows_the_digest_and_the_image_and_record_keep_it(
    tmp_path: Path, http_registry: RegistryServer, repository: str
) -> None:
    digest = push_test_image(http_registry, repository, "3.11-slim")
    base = http_registry.image(repository, "3.11-slim")
    plan = _plan(tmp_path, base, http_registry.host)
    assert plan.base is not None
    assert plan.base.digest == digest
    assert f"base image: {base}  → {digest}" in plan.settings_lines()
    # Without --pin-base the Dockerfile is byte for byte what Polyaxon renders.
    assert plan.build.dockerfiles[0].text == _unpinned(plan, tmp_path)
    manifests = build_manifests(plan.build, kaniko=plan.options.kaniko)
    args = manifests.pod["spec"]["containers"][0]["args"]
    assert f"--annotation={KEY_BASE_DIGEST}={digest}" in args
    assert manifests.pod["metadata"]["annotations"]["polymagic/base-digest"] == digest
    assert manifests.config_map["metadata"]["annotations"]["polymagic/base-digest"] == digest


def test_pin_base_writes_the_digest_into_the_from_line_and_nothing_else(
    tmp_path: Path, http_registry: RegistryServer, repository: str
) -> None:
    digest = push_test_image(http_registry, repository, "v1")
    base = http_registry.image(repository, "v1")
    plan = _plan(tmp_path, base, http_registry.host, "--pin-base")
    pinned = plan.build.dockerfiles[0].text
    unpinned = _unpinned(plan, tmp_path)
    assert f"FROM {base}@{digest}\n" in pinned
    assert pinned == unpinned.replace(f"FROM {base}\n", f"FROM {base}@{digest}\n", 1)
    # A pinned Dockerfile is another spec: it is not reused for the unpinned one.
    unpinned_plan = _plan(tmp_path, base, http_registry.host)
    assert (
        build_manifests(plan.build, kaniko=plan.options.kaniko).spec_hash
        != build_manifests(unpinned_plan.build, kaniko=unpinned_plan.options.kaniko).spec_hash
    )


def test_a_registry_that_cannot_tell_is_a_warning_not_a_failure(
    tmp_path: Path, closed_port: str
) -> None:
    base = f"{closed_port}/team/python:3.11"
    plan = _plan(tmp_path, base, closed_port, "--pin-base")
    assert plan.base is not None
    assert plan.base.digest is None
    line = next(line for line in plan.settings_lines() if line.startswith("base image:"))
    assert line.startswith(f"base image: {base}  → digest unknown: can't tell (")
    assert "connection refused" in line
    assert plan.build.dockerfiles[0].text == _unpinned(plan, tmp_path)  # nothing pinned


def test_the_local_docker_configs_credentials_reach_a_registry_that_asks(
    tmp_path: Path,
    basic_auth_registry: RegistryServer,
    repository: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = (basic_auth_registry.username, basic_auth_registry.password)
    digest = push_test_image(basic_auth_registry, repository, "v1", auth=user)
    base = basic_auth_registry.image(repository, "v1")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty"))
    tls = ("--skip-tls-verify-registry", basic_auth_registry.host)
    refused = _plan(tmp_path, base, basic_auth_registry.host, *tls, insecure=False)
    assert refused.base is not None
    assert refused.base.digest is None
    assert "401" in refused.base.reason or "credentials" in refused.base.reason, refused.base
    assert basic_auth_registry.password not in " ".join(refused.settings_lines())
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(json.dumps(basic_auth_registry.docker_config()))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    found = _plan(tmp_path, base, basic_auth_registry.host, *tls, insecure=False)
    assert found.base is not None
    assert found.base.digest == digest


DIGEST = "sha256:" + "c" * 64


@pytest.mark.parametrize(
    ("text", "image", "expected"),
    [
        ("FROM python:3.11\nRUN x\n", "python:3.11", f"FROM python:3.11@{DIGEST}\nRUN x\n"),
        (
            "from --platform=linux/amd64 python:3.11 AS b\nFROM b\n",
            "python:3.11",
            f"from --platform=linux/amd64 python:3.11@{DIGEST} AS b\nFROM b\n",
        ),
        ("FROM python:3.11-slim\n", "python:3.11", "FROM python:3.11-slim\n"),
        ("RUN echo FROM python:3.11\n", "python:3.11", "RUN echo FROM python:3.11\n"),
        ("FROM python:3.11\r\n", "python:3.11", f"FROM python:3.11@{DIGEST}\r\n"),
    ],
)
def test_pin_base_rewrites_only_the_from_that_names_the_base(
    text: str, image: str, expected: str
) -> None:
    assert pin_base(text, image, DIGEST) == expected
