"""What a failed build tells the user to do, from the real executor's own error lines
(``tests/fixtures/kaniko-logs/``, captured from Kaniko v1.28.3): runs without a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from polymagic.outcome.kaniko_log import strip_ansi
from polymagic.outcome.pod_reading import executor_fix
from polymagic.render.build_objects import BuildManifests
from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests
from polymagic.spec.loader import load_connections
from tests.data import REGISTRY, SEED

LOGS = Path(__file__).parent / "fixtures" / "kaniko-logs"


def _last_line(name: str) -> str:
    return strip_ansi((LOGS / name).read_text(errors="replace").splitlines()[-1])


def _manifests(with_secret: bool = True) -> BuildManifests:
    catalog = [dict(REGISTRY[0])]
    if not with_secret:
        catalog[0].pop("secret")
    build = compile_operation(SEED, connections=load_connections(catalog))
    return build_manifests(build, namespace="ml")


def test_unauthorized_names_the_secret_and_how_to_recreate_it() -> None:
    line = _last_line("unauthorized.log")
    assert "UNAUTHORIZED: authentication required" in line
    fix = executor_fix(line, _manifests())
    host = line.split("https://", 1)[1].split("/", 1)[0]
    assert f"`{host}` refused the credentials in secret `docker-conf`" in fix
    assert f"kubectl -n ml create secret docker-registry docker-conf --docker-server={host}" in fix


def test_unauthorized_without_a_secret_says_to_add_one() -> None:
    fix = executor_fix(_last_line("unauthorized.log"), _manifests(with_secret=False))
    assert "the build has none: give the destination's connection a `secret`" in fix


def test_manifest_unknown_names_the_image() -> None:
    line = _last_line("manifest-unknown.log")
    fix = executor_fix(line, _manifests())
    host = line.split("http://", 1)[1].split("/", 1)[0]
    assert fix == (
        f"the image `{host}/base/nothing-here:9` is not in its registry (MANIFEST_UNKNOWN):"
        " check the base image's name and tag (the FROM line)"
    )


@pytest.mark.parametrize("name", ["run-fails-exit-3.log", "killed.log", "success-with-cache.log"])
def test_other_endings_get_no_registry_fix(name: str) -> None:
    assert executor_fix(_last_line(name), _manifests()) == ""


def test_a_rate_limited_pull_offers_a_mirror() -> None:
    """``rate-limited.log``: the base image's manifest answered 429 ``TOOMANYREQUESTS`` by the
    test registry front, as Docker Hub answers pulls over its limit."""
    line = _last_line("rate-limited.log")
    assert "TOOMANYREQUESTS: You have reached your pull rate limit." in line
    fix = executor_fix(line, _manifests())
    host = line.split("http://", 1)[1].split("/", 1)[0]
    assert fix.startswith(f"`{host}` refused for now: too many requests (429). Pull through")
    assert "`--registry-mirror HOST`" in fix


def test_an_immutable_ecr_tag_offers_the_option_or_a_new_tag() -> None:
    line = _last_line("immutable-tag-ecr.log")
    assert "TAG_INVALID: The image tag 'latest' already exists" in line
    manifests = _manifests()
    fix = executor_fix(line, manifests)
    assert fix.startswith(
        f"the registry does not let `{manifests.destinations[0]}` be overwritten (immutable"
        " tags): push under a new tag, or pass `--push-ignore-immutable-tag-errors`"
    )


def test_an_immutable_harbor_tag_offers_only_a_new_tag() -> None:
    """Harbor's words are not in the executor's list: its option would not end the push."""
    line = _last_line("immutable-tag-harbor.log")
    assert "PRECONDITION: Failed to process request due to 'harbor:latest'" in line
    fix = executor_fix(line, _manifests())
    assert "push under a new tag (`--push-ignore-immutable-tag-errors` would not help" in fix
    assert ", or pass" not in fix


@pytest.mark.parametrize(
    "line",
    [
        "error pushing image: failed to push to destination r.example/a/b: PUT https://r.example"
        "/v2/a/b/manifests/1: DENIED: Failed to process request due to 'b:1' configured as"
        " immutable.",
        "error pushing image: failed to push to destination r.example/a/b: PUT https://r.example"
        "/v2/a/b/manifests/1: TAG_INVALID: The image tag '1' already exists in the 'a/b'"
        " repository and cannot be overwritten because the repository is immutable.",
    ],
    ids=["harbor-1.10-denied", "ecr-older-wording"],
)
def test_immutable_wordings_the_executor_does_not_know_are_not_credentials(line: str) -> None:
    fix = executor_fix(line, _manifests())
    assert "would not help" in fix
    assert "credentials" not in fix


def test_the_ignored_immutable_tag_log_ends_without_an_error() -> None:
    """``immutable-tag-ignored.log``: the same push with ``--push-ignore-immutable-tag-errors``
    (ECR's words): Kaniko says it ignored the refusal for each tag and exits 0."""
    lines = [
        strip_ansi(line) for line in (LOGS / "immutable-tag-ignored.log").read_text().splitlines()
    ]
    ignored = [line for line in lines if "Immutable tag error ignored for" in line]
    assert len(ignored) == 2  # the destination's tag and polymagic's spec tag
    assert executor_fix(lines[-1], _manifests()) == ""


def test_an_ignored_immutable_tag_is_noted_on_the_result() -> None:
    """The executor ends with success; the result says the tags did not move (the digest it
    reports was not stored under them: the registry kept the first image)."""
    from polymagic.outcome.pod_state import PodStateMachine, Pushed
    from polymagic.render.options import BuildOptions

    manifests = _manifests()
    machine = PodStateMachine(manifests, BuildOptions(), started=0.0)
    lines = (LOGS / "immutable-tag-ignored.log").read_text().splitlines()
    machine.log_lines(lines, [1.0] * len(lines))
    pushed = Pushed(f"{manifests.destinations[0]}@sha256:{'1' * 64}", f"sha256:{'1' * 64}")
    result = machine.result(pushed, 2.0, None, "")
    assert any("the tags still name the image they named before" in n for n in result.notes)
    clean = PodStateMachine(manifests, BuildOptions(), started=0.0)
    plain = (LOGS / "success-with-cache.log").read_text().splitlines()
    clean.log_lines(plain, [1.0] * len(plain))
    assert clean.result(pushed, 2.0, None, "").notes == ()
