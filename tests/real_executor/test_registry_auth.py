"""Registry credentials as the real executor reads them: both secret shapes against a registry
with htpasswd users (TLS with a throwaway CA), and a wrong password."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.real_executor.conftest import BASE_REPOSITORY, BASE_TAG
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
    assert leftovers(admin_kubeconfig, real_namespace) == []


def test_wrong_password_ends_with_kanikos_error_and_the_fix(
    tmp_path: Path,
    admin_kubeconfig: Path,
    real_namespace: str,
    auth_registry: RegistryServer,
) -> None:
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
    done = polymagic_build(
        admin_kubeconfig,
        inputs,
        real_namespace,
        "--skip-tls-verify-registry",
        auth_registry.host,
    )
    assert done.returncode == 1, done
    assert done.stdout == ""
    # Kaniko's own words, from the real executor's log...
    assert "UNAUTHORIZED" in done.stderr, done
    # ...and what to do about it.
    assert "secret `regcred`" in done.stderr, done
    assert leftovers(admin_kubeconfig, real_namespace) == []
    assert RegistryView(auth_registry).tags("auth/wrong-password") == []
