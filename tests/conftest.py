"""Shared fixtures: paths to the copied conformance data and a few operations."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.fixtures import *  # noqa: F403  (the real-cluster fixtures)

CONFORMANCE = Path(__file__).parent / "conformance"

SEED = """\
version: 1
kind: operation
name: build
params:
  destination:
    connection: docker-connection
    value: polyaxon/polyaxon-quick-start
runPatch:
  init:
  - dockerfile:
      image: "tensorflow/tensorflow:2.0.1-py3"
      run:
      - 'pip3 install --no-cache-dir -U polyaxon'
      langEnv: 'en_US.UTF-8'
hubRef: kaniko
"""

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
