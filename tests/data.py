"""Constants the tests share: the seed operation, a connections catalog and the conformance data.

Tests import these by name; fixtures live in conftest files and are never imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polymagic.spec.examples import QUICK_START

__all__ = ["CONFORMANCE", "REGISTRY", "SEED"]

CONFORMANCE = Path(__file__).parent / "conformance"
"""The copied Polyaxon conformance data (goldens are never regenerated)."""

SEED = QUICK_START

REGISTRY: list[dict[str, Any]] = [
    {
        "name": "docker-connection",
        "kind": "registry",
        "schema": {"url": "registry.example.com/org"},
        "secret": {"name": "docker-conf", "mountPath": "/kaniko/.docker"},
    }
]
"""A catalog with one registry connection (``docker-connection`` -> registry.example.com/org)."""
