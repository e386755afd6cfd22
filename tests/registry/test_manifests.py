"""Reading an image's manifest (its size) and pointing tags at it, against Debian's real
docker-registry (plain HTTP, basic auth, bearer tokens); and telling a wrong password apart
from a missing permission."""

from __future__ import annotations

import json

import pytest

from polymagic.errors import SpecError
from polymagic.registry import RegistryAuth, check_image, read_manifest, tag_manifest
from tests.registry.server import ManifestKind, RegistryServer, push_test_image
from tests.registry.test_registry import _access, _token_for


def _own_view(registry: RegistryServer, repository: str, reference: str) -> dict[str, object]:
    """The manifest as the registry serves it to its own user (independent of polymagic)."""
    from tests.real_executor.registry_view import RegistryView

    view = RegistryView(registry)
    body, _ = view._get(
        f"/v2/{repository}/manifests/{reference}",
        ", ".join(kind.value for kind in ManifestKind),
    )
    document: dict[str, object] = json.loads(body)
    return document


@pytest.mark.parametrize("kind", [ManifestKind.DOCKER, ManifestKind.OCI])
def test_the_image_size_is_config_plus_layers(
    kind: ManifestKind, http_registry: RegistryServer, repository: str
) -> None:
    digest = push_test_image(http_registry, repository, "v1", kind=kind)
    answer = read_manifest(f"{http_registry.host}/{repository}@{digest}", **_access(http_registry))
    assert answer.ok, answer
    assert answer.manifest is not None
    document = _own_view(http_registry, repository, digest)
    config, layers = document["config"], document["layers"]
    assert isinstance(config, dict)
    assert isinstance(layers, list)
    assert answer.manifest.image_size == config["size"] + sum(layer["size"] for layer in layers)
    assert answer.manifest.media_type == kind.value
    assert answer.manifest.size_note == ""


def test_an_index_has_no_single_size_and_says_so(
    http_registry: RegistryServer, repository: str
) -> None:
    digest = push_test_image(http_registry, repository, "v1", kind=ManifestKind.OCI_INDEX)
    answer = read_manifest(f"{http_registry.host}/{repository}@{digest}", **_access(http_registry))
    assert answer.manifest is not None
    assert answer.manifest.is_index
    assert answer.manifest.image_size is None
    assert "is an image index (1 manifests): its size is per platform" in answer.manifest.size_note


@pytest.mark.registry
@pytest.mark.parametrize("mode", ["http_registry", "basic_auth_registry", "token_registry"])
def test_tags_are_pointed_at_the_digest(
    mode: str, request: pytest.FixtureRequest, repository: str
) -> None:
    registry: RegistryServer = request.getfixturevalue(mode)
    digest = push_test_image(registry, repository, "spec-1")
    push_test_image(registry, repository, "latest", content="an older image")
    access = _access(registry, repository=repository)
    tags = [f"{registry.host}/{repository}:latest", f"{registry.host}/{repository}:v2"]
    answer = tag_manifest(f"{registry.host}/{repository}@{digest}", tags, **access)
    assert answer.ok, answer
    assert answer.tagged == tuple(tags)
    for tag in ("latest", "v2", "spec-1"):
        found = check_image(f"{registry.host}/{repository}:{tag}", **access)
        assert found.digest == digest, (tag, found)


def test_a_tag_already_pointing_there_needs_no_push_rights(
    token_registry: RegistryServer, repository: str
) -> None:
    digest = push_test_image(token_registry, repository, "v1")
    pull_only = RegistryAuth(registry_token=_token_for(token_registry, repository))
    ca = str(token_registry.ca_file)
    image = f"{token_registry.host}/{repository}"
    same = tag_manifest(f"{image}@{digest}", [f"{image}:v1"], auth=pull_only, ca_file=ca)
    assert same.ok, same
    other = tag_manifest(f"{image}@{digest}", [f"{image}:v2"], auth=pull_only, ca_file=ca)
    assert not other.ok
    assert other.manifest is not None  # read, but not tagged
    assert other.tagged == ()
    assert f"could not tag {image}:v2" in other.reason
    assert "push" in other.reason
    assert "HTTP 401" in other.reason
    assert not other.credentials_rejected


def test_another_repository_without_the_blobs_refuses_the_tag(
    http_registry: RegistryServer, repository: str
) -> None:
    digest = push_test_image(http_registry, repository, "v1")
    elsewhere = f"{http_registry.host}/{repository}-elsewhere:v1"
    answer = tag_manifest(
        f"{http_registry.host}/{repository}@{digest}", [elsewhere], **_access(http_registry)
    )
    assert not answer.ok
    assert "refused the manifest" in answer.reason
    assert "MANIFEST_BLOB_UNKNOWN" in answer.reason or "BLOB_UNKNOWN" in answer.reason


def test_a_tag_is_on_the_same_registry_and_a_read_is_by_digest(
    http_registry: RegistryServer,
) -> None:
    with pytest.raises(SpecError, match="by digest"):
        read_manifest(f"{http_registry.host}/a/b:v1", auth=None, insecure=True)
    with pytest.raises(SpecError, match="a tag on"):
        tag_manifest(
            f"{http_registry.host}/a/b@sha256:" + "0" * 64,
            ["other.example.com/a/b:v1"],
            auth=None,
            insecure=True,
        )


# -- a wrong password is not a missing permission ---------------------------------------------------


@pytest.mark.registry
@pytest.mark.parametrize("mode", ["basic_auth_registry", "token_registry"])
def test_a_wrong_password_is_flagged_as_rejected_credentials(
    mode: str, request: pytest.FixtureRequest, repository: str
) -> None:
    registry: RegistryServer = request.getfixturevalue(mode)
    digest = push_test_image(registry, repository, "v1")
    image = registry.image(repository, "v1")
    wrong = check_image(image, **_access(registry, password="wrong-password"))
    assert wrong.credentials_rejected, wrong
    manifest = read_manifest(
        f"{registry.host}/{repository}@{digest}", **_access(registry, password="wrong-password")
    )
    assert manifest.credentials_rejected, manifest
    # Anonymous: nothing was sent, so nothing was rejected.
    anonymous = check_image(image, auth=None, ca_file=str(registry.ca_file))
    assert not anonymous.credentials_rejected
    assert not check_image(image, **_access(registry)).credentials_rejected


def test_credentials_without_access_are_not_rejected_credentials(
    token_registry: RegistryServer, repository: str
) -> None:
    push_test_image(token_registry, repository, "v1")
    someone_else = RegistryAuth(registry_token=_token_for(token_registry, "tests/someone-else"))
    answer = check_image(
        token_registry.image(repository, "v1"),
        auth=someone_else,
        ca_file=str(token_registry.ca_file),
    )
    assert "did not let these credentials read" in answer.reason
    assert not answer.credentials_rejected
