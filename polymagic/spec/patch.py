"""Merging a ``runPatch`` into a component's ``run`` with Polyaxon's four patch strategies.

Works on the camelCase dicts of ``JobRun`` and returns new dicts; inputs are never mutated.
The semantics (which fields merge as lists, as mappings, or attribute by attribute) follow
Polyaxon 2.18 and are checked against it by the differential tests.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from polymagic.spec.documents import PatchStrategy

__all__ = ["patch_run"]

# Fields Polyaxon keeps as Kubernetes client objects: an object is patched attribute by
# attribute (one level deep), a list of them as a list.
_OBJECT_FIELDS = {"container", "affinity", "securityContext", "dnsConfig"}
_OBJECT_LIST_FIELDS = {"volumes", "sidecars", "tolerations", "hostAliases"}
# Fields that are Polyaxon schema objects themselves: patched recursively, field by field.
_SCHEMA_FIELDS = {"environment"}


def patch_run(
    base: Mapping[str, Any], patch: Mapping[str, Any], strategy: PatchStrategy | None = None
) -> dict[str, Any]:
    """``base`` with ``patch`` merged in by ``strategy`` (default post_merge)."""
    return _patch_schema(
        copy.deepcopy(dict(base)), copy.deepcopy(dict(patch)), strategy or PatchStrategy.POST_MERGE
    )


def _patch_schema(
    base: dict[str, Any], patch: dict[str, Any], strategy: PatchStrategy
) -> dict[str, Any]:
    for key, value in patch.items():
        current = base.get(key)
        if current is None:
            # An empty field always takes the patch value, whatever the strategy.
            if value is not None:
                base[key] = value
            continue
        if key in _SCHEMA_FIELDS and isinstance(current, dict) and isinstance(value, dict):
            base[key] = _patch_schema(current, value, strategy)
        elif key in _OBJECT_LIST_FIELDS or (key in _OBJECT_FIELDS and isinstance(current, list)):
            base[key] = _patch_object_list(current, value, strategy)
        elif key in _OBJECT_FIELDS and isinstance(current, dict) and isinstance(value, dict):
            base[key] = _patch_object(current, value, strategy)
        elif strategy is PatchStrategy.ISNULL:
            continue
        elif strategy is PatchStrategy.REPLACE:
            base[key] = value
        else:
            base[key] = _merge(current, value, strategy)
    return base


def _patch_object_list(current: Any, value: Any, strategy: PatchStrategy) -> Any:
    if strategy is PatchStrategy.ISNULL:
        return current
    if strategy is PatchStrategy.REPLACE:
        return value
    if value is None:
        return None if strategy is PatchStrategy.POST_MERGE else current
    return _merge(current, value, strategy)


def _patch_object(
    current: dict[str, Any], value: dict[str, Any], strategy: PatchStrategy
) -> dict[str, Any]:
    for key, item in value.items():
        if item is None:
            continue
        existing = current.get(key)
        if existing is None:
            current[key] = item
        elif strategy is PatchStrategy.ISNULL:
            continue
        elif strategy is PatchStrategy.REPLACE:
            current[key] = item
        else:
            current[key] = _merge(existing, item, strategy)
    return current


def _merge(current: Any, value: Any, strategy: PatchStrategy) -> Any:
    post = strategy is PatchStrategy.POST_MERGE
    if isinstance(current, dict) and isinstance(value, dict):
        return _deep_update(current, value) if post else _deep_update(value, current)
    if isinstance(current, list) and isinstance(value, list):
        if post:
            return current + [item for item in value if item not in current]
        return value + [item for item in current if item not in value]
    return value if post else current


def _deep_update(target: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            target[key] = _deep_update(target[key], value)
        else:
            target[key] = value
    return target
