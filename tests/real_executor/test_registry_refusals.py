"""Registries that refuse as hosted ones do, with the real executor: Docker Hub's pull rate limit
(429 ``TOOMANYREQUESTS``) and immutable tags (ECR's ``TAG_INVALID``, Harbor's ``PRECONDITION``),
made by a front (``tests/registry/front.py``) before Debian's registry. What the user is told
to do, and what ``--push-ignore-immutable-tag-errors`` then does for real.

The executor logs of these builds are the fixtures ``rate-limited.log``,
``immutable-tag-ecr.log`` and ``immutable-tag-harbor.log`` (``tests/fixtures/kaniko-logs/``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.simulated_node import SimulatedNode
from tests.real_executor.base_image import BASE_REPOSITORY, BASE_TAG
from tests.real_executor.helpers import (
    CliRun,
    catalog,
    leftovers,
    polymagic_build,
    seed_with_base,
    write_inputs,
)
from tests.real_executor.registry_view import RegistryView
from tests.registry.front import (
    DOCKER_HUB_RATE_LIMIT,
    ImmutableStyle,
    RegistryFront,
    immutable_tags,
    rate_limited_pulls,
)
from tests.registry.server import RegistryServer

pytestmark = [pytest.mark.cluster, pytest.mark.real_executor]

FIX = "polymagic: fix: "


def _error_and_fix(done: CliRun) -> tuple[str, str]:
    """The error line `polymagic build` ended with and the fix line under it."""
    lines = done.stderr.split("polymagic: error: ", 1)[-1].splitlines()
    fix = next((line for line in lines if line.startswith(FIX)), "")
    return lines[0], fix.removeprefix(FIX)


def _executor_log(node: SimulatedNode, namespace: str) -> list[str]:
    pods = [p for p in node.seen_pods if p.namespace == namespace and p.containers]
    return pods[-1].log_lines()


@pytest.fixture
def rate_limited(plain_registry: RegistryServer) -> Iterator[RegistryFront]:
    with RegistryFront(plain_registry, (rate_limited_pulls(BASE_REPOSITORY),)) as front:
        yield front


def test_a_rate_limited_base_image_offers_a_registry_mirror(
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    rate_limited: RegistryFront,
    sim_node: SimulatedNode,
) -> None:
    base = rate_limited.image(BASE_REPOSITORY, BASE_TAG)
    op = seed_with_base(base)
    op["params"]["destination"]["value"] = "limited/app"
    inputs = write_inputs(tmp_path, op, catalog(rate_limited))  # type: ignore[arg-type]
    done = polymagic_build(admin_kubeconfig, inputs, real_namespace, "--force")
    assert done.returncode == 1, done
    error, fix = _error_and_fix(done)
    # Kaniko's words (the registry's answer), then the fix naming the option.
    assert f"TOOMANYREQUESTS: {DOCKER_HUB_RATE_LIMIT}" in error, done
    assert fix.startswith(f"`{rate_limited.host}` refused for now: too many requests (429)"), done
    assert "`--registry-mirror HOST`" in fix, done
    assert any(a[2] == 429 for a in rate_limited.refused())  # the executor met the front
    assert any("TOOMANYREQUESTS" in line for line in _executor_log(sim_node, real_namespace))
    assert leftovers(admin_kubeconfig, real_namespace) == []


def _immutable_build(
    style: ImmutableStyle,
    tmp_path: Path,
    kubeconfig: Path,
    namespace: str,
    registry: RegistryServer,
) -> tuple[RegistryFront, tuple[Path, Path], str, str]:
    """A front with immutable tags, an image pushed once through it, and the inputs to push
    it again: (front, inputs, repository, the digest of the first push)."""
    front = RegistryFront(registry, (immutable_tags(style),)).start()
    op = seed_with_base(registry.image(BASE_REPOSITORY, BASE_TAG))
    repository = f"immutable/{style.value}"
    op["params"]["destination"]["value"] = repository
    # No layer cache and a RUN writing the time: a second build is another image (digest).
    op["runPatch"]["init"][0]["dockerfile"]["run"] = ["date > /built-at"]
    op["params"]["cache"] = {"value": False}
    inputs = write_inputs(tmp_path, op, catalog(front))  # type: ignore[arg-type]
    first = polymagic_build(kubeconfig, inputs, namespace)
    assert first.returncode == 0, first
    digest = RegistryView(registry).digest(repository, "latest")
    assert digest is not None
    return front, inputs, repository, digest


def test_an_immutable_ecr_tag_offers_the_option_which_then_succeeds(
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    sim_node: SimulatedNode,
) -> None:
    front, inputs, repository, first = _immutable_build(
        ImmutableStyle.ECR, tmp_path, admin_kubeconfig, real_namespace, plain_registry
    )
    try:
        again = polymagic_build(admin_kubeconfig, inputs, real_namespace, "--force")
        assert again.returncode == 1, again
        error, fix = _error_and_fix(again)
        assert "TAG_INVALID: The image tag 'latest' already exists in the" in error, again
        assert "cannot be overwritten because the tag is immutable." in error, again
        destination = f"{front.host}/{repository}"
        assert fix.startswith(f"the registry does not let `{destination}` be overwritten"), again
        assert "`--push-ignore-immutable-tag-errors`" in fix, again
        # The option, for real: Kaniko logs the refusal as ignored and the build succeeds;
        # the tag still names the first image.
        ignored = polymagic_build(
            admin_kubeconfig,
            inputs,
            real_namespace,
            "--force",
            "--push-ignore-immutable-tag-errors",
        )
        assert ignored.returncode == 0, ignored
        log = _executor_log(sim_node, real_namespace)
        assert any("Immutable tag error ignored for" in line for line in log), log
        assert RegistryView(plain_registry).digest(repository, "latest") == first
    finally:
        front.stop()
    assert leftovers(admin_kubeconfig, real_namespace) == []


def test_an_immutable_harbor_tag_offers_a_new_tag_only(
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
) -> None:
    """Harbor's words are not among those Kaniko's option knows: the option does not help, so
    the fix does not offer it."""
    front, inputs, repository, first = _immutable_build(
        ImmutableStyle.HARBOR, tmp_path, admin_kubeconfig, real_namespace, plain_registry
    )
    try:
        ignored = polymagic_build(
            admin_kubeconfig,
            inputs,
            real_namespace,
            "--force",
            "--push-ignore-immutable-tag-errors",
        )
        assert ignored.returncode == 1, ignored
        error, fix = _error_and_fix(ignored)
        assert "PRECONDITION: Failed to process request due to" in error, ignored
        assert "configured as immutable." in error, ignored
        destination = f"{front.host}/{repository}"
        assert fix.startswith(f"the registry does not let `{destination}` be overwritten"), ignored
        assert "push under a new tag" in fix, ignored
        assert "`--push-ignore-immutable-tag-errors` would not help" in fix, ignored
        assert ", or pass `--push-ignore-immutable-tag-errors`" not in fix, ignored
        assert RegistryView(plain_registry).digest(repository, "latest") == first
    finally:
        front.stop()
    assert leftovers(admin_kubeconfig, real_namespace) == []
