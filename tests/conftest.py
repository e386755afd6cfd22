"""Shared fixtures: paths to the copied conformance data and a few operations."""

from __future__ import annotations

from pathlib import Path

import pytest

from polymagic.spec.examples import QUICK_START
from tests.cluster.fixtures import *  # noqa: F403  (the real-cluster fixtures)

CONFORMANCE = Path(__file__).parent / "conformance"

SEED = QUICK_START

REGISTRY = [
    {
        "name": "docker-connection",
        "kind": "registry",
        "schema": {"url": "registry.example.com/org"},
        "secret": {"name": "docker-conf", "mountPath": "/kaniko/.docker"},
    }
]


@pytest.fixture
def seed() -> str:
    return SEED


@pytest.fixture
def conformance() -> Path:
    return CONFORMANCE
