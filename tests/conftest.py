"""Root conftest: registers the real-cluster fixtures and the fixtures every directory shares.

Constants the tests share live in :mod:`tests.data`; tests import them from there, never from a
conftest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data import CONFORMANCE, SEED

# Registered as a plugin (allowed only in the root conftest), so the cluster fixtures exist
# exactly once for the whole session without a star import.
pytest_plugins = ["tests.cluster.fixtures"]


@pytest.fixture
def seed() -> str:
    return SEED


@pytest.fixture
def conformance() -> Path:
    return CONFORMANCE
