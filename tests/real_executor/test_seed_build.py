"""The seed operation built by the real Kaniko executor and pushed to a real registry:
the reported digest is the registry's, the image is what the spec says, reuse and --force
work against what Kaniko really pushed, and --reproducible really reproduces."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from polymagic.render.compiler import compile_operation
from polymagic.render.manifests import build_manifests
from polymagic.spec.loader import load_connections
from tests.cluster.simulated_node import SimulatedNode
from tests.real_executor.base_image import BASE_REPOSITORY, BASE_TAG, PIP_MARKER
from tests.real_executor.helpers import (
    DESTINATION,
    catalog,
    leftovers,
    polymagic_build,
    seed_with_base,
    summary_durations,
    summary_steps,
    write_inputs,
)
from tests.real_executor.registry_view import RegistryView
from tests.registry.server import RegistryServer
from tests.registry.test_reuse_cluster import _pods

pytestmark = [pytest.mark.cluster, pytest.mark.real_executor]


def test_seed_builds_pushes_and_reports_the_registry_digest(
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    sim_node: SimulatedNode,
) -> None:
    base = plain_registry.image(BASE_REPOSITORY, BASE_TAG)
    op = seed_with_base(base)
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    done = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    assert done.returncode == 0, done
    view = RegistryView(plain_registry)
    repository = DESTINATION
    digest = view.digest(repository, "latest")
    assert digest is not None
    assert done.last_line == f"{plain_registry.host}/{repository}@{digest}"
    image = view.image(repository, "latest")
    for name in ("LC_ALL", "LANG", "LANGUAGE"):
        assert image.env[name] == "en_US.UTF-8"
    assert image.workdir == "/code"
    assert PIP_MARKER.format(package="polyaxon") in image.layer_files(-1)
    # The spec tag: the same image, under the hash polymagic computes for this spec.
    build = compile_operation(op, connections=load_connections(catalog(plain_registry)))
    spec_tag = f"spec-{build_manifests(build, namespace=real_namespace).spec_hash[:20]}"
    assert spec_tag in view.tags(repository)
    assert view.digest(repository, spec_tag) == digest
    assert leftovers(admin_kubeconfig, real_namespace) == []
    assert _pods(sim_node, real_namespace) == 1


def test_same_spec_is_reused_without_a_pod_and_force_rebuilds(
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    sim_node: SimulatedNode,
) -> None:
    op = seed_with_base(plain_registry.image(BASE_REPOSITORY, BASE_TAG))
    op["params"]["destination"]["value"] = "reuse/app"
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    first = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    assert first.returncode == 0, first
    assert re.search(r"^polymagic: built in (\d+\.\d s|\d\d+:\d\d) \(spec ", first.stderr, re.M), (
        first.stderr
    )
    assert [cached for _, cached in summary_steps(first.stderr)] == [False] * 6
    again = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    assert again.returncode == 0, again
    assert again.last_line == first.last_line
    assert "not building it again" in again.stderr
    assert "polymagic: reused — built earlier (no pod) (spec " in again.stderr
    assert "built in" not in again.stderr
    assert _pods(sim_node, real_namespace) == 1
    forced = polymagic_build(admin_kubeconfig, inputs, real_namespace, "--force")
    assert forced.returncode == 0, forced
    assert _pods(sim_node, real_namespace) == 2
    view = RegistryView(plain_registry)
    assert (
        forced.last_line == f"{plain_registry.host}/reuse/app@{view.digest('reuse/app', 'latest')}"
    )
    # Kaniko found the RUN layer that the first build pushed to the cache repository...
    forced_log = sim_node.seen_pods[-1].log_lines()
    assert any("Using caching version of cmd: RUN pip3 install" in line for line in forced_log)
    # ...and the summary says so: WORKDIR and RUN cached, the ENV lines (metadata) not.
    assert summary_steps(forced.stderr) == [
        ("ENV LC_ALL en_US.UTF-8", False),
        ("ENV LANG en_US.UTF-8", False),
        ("ENV LANGUAGE en_US.UTF-8", False),
        ("ENV SHELL /bin/bash", False),
        ("WORKDIR /code", True),
        ("RUN pip3 install --no-cache-dir -U polyaxon", True),
    ]
    assert leftovers(admin_kubeconfig, real_namespace) == []


def test_reuse_points_a_new_tag_at_the_image_or_builds(
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    plain_registry: RegistryServer,
    sim_node: SimulatedNode,
) -> None:
    """Before: after a build pushed `retag/app:v2`, the same spec to `retag/app:latest` was
    reused and `retag/app:latest` never existed."""
    op = seed_with_base(plain_registry.image(BASE_REPOSITORY, BASE_TAG))
    op["params"]["destination"]["value"] = "retag/app:v2"
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    first = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    assert first.returncode == 0, first
    view = RegistryView(plain_registry)
    digest = view.digest("retag/app", "v2")
    # Besides the image's tags, its SBOM and provenance under cosign's (sha256-<hex>.sbom/.att).
    attached = sorted(t for t in view.tags("retag/app") if t.startswith("sha256-"))
    assert [t.rsplit(".", 1)[1] for t in attached] == ["att", "sbom"]
    spec_tag, v2 = [t for t in view.tags("retag/app") if t not in attached]
    assert (spec_tag[:5], v2) == ("spec-", "v2")
    op["params"]["destination"]["value"] = "retag/app:latest"
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    again = polymagic_build(admin_kubeconfig, inputs, real_namespace, "--tag", ":also")
    assert again.returncode == 0, again
    assert "not building it again" in again.stderr
    assert _pods(sim_node, real_namespace) == 1
    assert again.last_line == f"{plain_registry.host}/retag/app:latest@{digest}"
    assert view.digest("retag/app", "latest") == view.digest("retag/app", "also") == digest
    # A tag in another repository: the registry has no blobs there, so it refuses the manifest
    # and the image is built and pushed there, as asked.
    elsewhere = polymagic_build(
        admin_kubeconfig, inputs, real_namespace, "--tag", f"{plain_registry.host}/other/app:1"
    )
    assert elsewhere.returncode == 0, elsewhere
    assert "cannot be pointed at it" in elsewhere.stderr
    assert "building it" in elsewhere.stderr
    assert _pods(sim_node, real_namespace) == 2
    assert view.digest("other/app", "1") is not None
    assert leftovers(admin_kubeconfig, real_namespace) == []


def test_the_summary_gives_the_registrys_size_of_the_image(
    tmp_path: Path, admin_kubeconfig: Path, real_namespace: str, plain_registry: RegistryServer
) -> None:
    op = seed_with_base(plain_registry.image(BASE_REPOSITORY, BASE_TAG))
    op["params"]["destination"]["value"] = "size/app"
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    done = polymagic_build(admin_kubeconfig, inputs, real_namespace)
    assert done.returncode == 0, done
    image = RegistryView(plain_registry).image("size/app", "latest")
    manifest = image.manifest
    expected = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
    assert f"({expected:,} bytes: config and layers, from the registry's manifest)" in done.stderr
    # Steps and size go to stderr before the one stdout line scripts read.
    assert done.stdout.strip().splitlines() == [done.last_line]
    assert all(duration is not None for duration in summary_durations(done.stderr))


def test_reproducible_twice_gives_the_same_digest(
    tmp_path: Path, admin_kubeconfig: Path, real_namespace: str, plain_registry: RegistryServer
) -> None:
    op = seed_with_base(plain_registry.image(BASE_REPOSITORY, BASE_TAG))
    op["params"]["destination"]["value"] = "repro/app"
    inputs = write_inputs(tmp_path, op, catalog(plain_registry))
    # No layer cache: the second build runs every step again.
    argv = ("--reproducible", "-P", "cache=false")
    first = polymagic_build(admin_kubeconfig, inputs, real_namespace, *argv)
    assert first.returncode == 0, first
    second = polymagic_build(admin_kubeconfig, inputs, real_namespace, *argv, "--force")
    assert second.returncode == 0, second
    assert re.fullmatch(r".*/repro/app@sha256:[0-9a-f]{64}", first.last_line)
    assert second.last_line == first.last_line
    assert first.last_line.endswith(
        RegistryView(plain_registry).digest("repro/app", "latest") or "-"
    )
