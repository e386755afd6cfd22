"""Registry credentials as the real executor reads them: both secret shapes against a registry
with htpasswd users (TLS with a throwaway CA), and a wrong password, caught before submitting."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.simulated_node import SimulatedNode
from tests.real_executor.base_image import BASE_REPOSITORY, BASE_TAG
from tests.real_executor.helpers import (
    catalog,
    create_registry_secret,
    leftovers,
    polymagic_build,
    seed_with_base,
    write_inputs,
)
from tests.real_executor.registry_view import RegistryView
from tests.registry.server import RegistryServer
from tests.registry.test_reuse_cluster import _pods

pytestmark = [pytest.mark.cluster, pytest.mark.real_executor]


@pytest.mark.parametrize("shape", ["config.json", "dockerconfigjson"])
def test_both_secret_shapes_pull_and_push_with_credentials(
    shape: str,
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    auth_registry: RegistryServer,
) -> None:
    create_registry_secret(
        admin_kubeconfig, real_namespace, auth_registry, name="regcred", shape=shape
    )
    # The base image is on the same registry: pulling it needs the credentials too.
    op = seed_with_base(auth_registry.image(BASE_REPOSITORY, BASE_TAG))
    repository = f"auth/{shape.replace('.', '-')}"
    op["params"]["destination"]["value"] = repository
    inputs = write_inputs(tmp_path, op, catalog(auth_registry, secret="regcred"))
    done = polymagic_build(
        admin_kubeconfig,
        inputs,
        real_namespace,
        "--skip-tls-verify-registry",
        auth_registry.host,
    )
    assert done.returncode == 0, done
    digest = RegistryView(auth_registry).digest(repository, "latest")
    assert done.last_line == f"{auth_registry.host}/{repository}@{digest}"
    # The base image is resolved with the Secret's credentials, as the build pulls it (before:
    # with the local docker config's, which has none for this registry: "digest unknown").
    base = RegistryView(auth_registry).digest(BASE_REPOSITORY, BASE_TAG)
    assert f"base image: {auth_registry.image(BASE_REPOSITORY, BASE_TAG)}  → {base}" in done.stderr
    # The SBOM and the provenance are written with the same Secret's credentials (the local
    # docker config has none for this registry: before, "no SBOM or provenance attached").
    prefix = (digest or "").replace(":", "-")
    assert f"attached the SBOM as {auth_registry.host}/{repository}:{prefix}.sbom" in done.stderr
    assert f"attached the provenance as {auth_registry.host}/{repository}:{prefix}.att" in (
        done.stderr
    )
    assert leftovers(admin_kubeconfig, real_namespace) == []


@pytest.mark.parametrize("force", [False, True], ids=["build", "force"])
def test_wrong_password_fails_before_anything_is_created(
    force: bool,
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    auth_registry: RegistryServer,
    sim_node: SimulatedNode,
) -> None:
    """Before: the registry check saw HTTP 401 with the secret's credentials, warned, and
    submitted; Kaniko then failed with UNAUTHORIZED after the whole build
    (tests/fixtures/kaniko-logs/unauthorized.log)."""
    create_registry_secret(
        admin_kubeconfig,
        real_namespace,
        auth_registry,
        name="regcred",
        shape="dockerconfigjson",
        password="not-the-password",
    )
    op = seed_with_base(auth_registry.image(BASE_REPOSITORY, BASE_TAG))
    op["params"]["destination"]["value"] = "auth/wrong-password"
    inputs = write_inputs(tmp_path, op, catalog(auth_registry, secret="regcred"))
    extra = ["--force"] if force else []
    done = polymagic_build(
        admin_kubeconfig,
        inputs,
        real_namespace,
        "--skip-tls-verify-registry",
        auth_registry.host,
        *extra,
    )
    assert done.returncode == 1, done
    assert done.stdout == ""
    error = done.stderr.split("polymagic: error: ", 1)[-1]
    assert (
        f"the registry `{auth_registry.host}` refused the credentials in secret `regcred`" in error
    )
    assert "nothing was submitted" in error
    assert "kubectl -n" in error
    assert "create secret docker-registry regcred" in error
    assert _pods(sim_node, real_namespace) == 0
    assert leftovers(admin_kubeconfig, real_namespace) == []
    assert RegistryView(auth_registry).tags("auth/wrong-password") == []
