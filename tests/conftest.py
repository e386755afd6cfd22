"""Root conftest: registers the real-cluster fixtures and the fixtures every directory shares.

Constants the tests share live in :mod:`tests.data`; tests import them from there, never from a
conftest.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from tests.data import CONFORMANCE, SEED
from tests.registry.server import RegistryServer

# Registered as a plugin (allowed only in the root conftest), so the cluster fixtures exist
# exactly once for the whole session without a star import.
pytest_plugins = ["tests.cluster.fixtures"]


@pytest.fixture
def seed() -> str:
    return SEED


@pytest.fixture
def conformance() -> Path:
    return CONFORMANCE


# -- the `registry` marker --------------------------------------------------------------------------

REGISTRY_FIXTURES = frozenset(
    {
        "http_registry",
        "tls_registry",
        "basic_auth_registry",
        "token_registry",
        "plain_registry",
        "auth_registry",
        "module_registry",
    }
)
"""Fixtures that start Debian's docker-registry: a test using one (even through another fixture)
is marked ``registry`` at collection, so ``-m "not registry"`` deselects it."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REGISTRY_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.registry)


def _registry_started_unmarked(item: pytest.Item) -> Generator[None, object, object]:
    """Fails the phase of a test that started a registry without the ``registry`` marker (a new
    registry fixture not in REGISTRY_FIXTURES, ``getfixturevalue``, or ``RegistryServer(...)`` in a
    test), so the marker cannot silently go missing."""
    before = RegistryServer.starts
    result = yield
    if RegistryServer.starts != before and item.get_closest_marker("registry") is None:
        pytest.fail(
            f"{item.nodeid} started docker-registry without the `registry` marker: mark it "
            "`@pytest.mark.registry` or add its fixture to REGISTRY_FIXTURES in tests/conftest.py",
            pytrace=False,
        )
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _registry_started_unmarked(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _registry_started_unmarked(item))
