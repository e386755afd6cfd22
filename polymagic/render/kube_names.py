"""Kubernetes' rules for names, label and annotation keys and values, and ConfigMap keys.

The API server refuses an object that breaks them with a 422 listing regular expressions; polymagic
checks the objects it is about to submit against the same rules first and says, in one line, which
field of the operation or which option is wrong and how to write it. Pure: no client, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from polymagic.errors import SpecError

__all__ = [
    "ANNOTATIONS_LIMIT",
    "CONFIGMAP_LIMIT",
    "check_annotations",
    "check_config_map_key",
    "check_labels",
    "check_namespace",
    "check_object_name",
    "is_config_map_key",
]

# Limits as the API server's validation has them (apimachinery's validation package).
_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_CONFIG_MAP_KEY = re.compile(r"[-._a-zA-Z0-9]+")
NAME_PART_LIMIT = 63
PREFIX_LIMIT = 253
LABEL_VALUE_LIMIT = 63
CONFIG_MAP_KEY_LIMIT = 253
CONFIGMAP_LIMIT = 1024 * 1024 - 16 * 1024
"""Bytes of data a ConfigMap may carry: the API server refuses objects over 1 MiB, less room for
the object's own metadata."""
ANNOTATIONS_LIMIT = 256 * 1024
"""All annotations of one object together, keys and values, in bytes."""


def _shown(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label/annotation key, or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return "the prefix before `/` is empty"
    if prefix:
        if len(prefix) > PREFIX_LIMIT:
            return f"the prefix before `/` is longer than {PREFIX_LIMIT} characters"
        if not _DNS_SUBDOMAIN.fullmatch(prefix):
            return "the prefix before `/` must be a DNS name (lower-case letters, digits, `-`, `.`)"
    if not name:
        return "the name is empty"
    if len(name) > NAME_PART_LIMIT:
        return f"the name after any `/` is longer than {NAME_PART_LIMIT} characters"
    if not _NAME_PART.fullmatch(name):
        return "use letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit"
    return None


def check_labels(labels: Mapping[str, str], where: str) -> None:
    """Raise a SpecError naming ``where`` for the first invalid label key or value."""
    for key, value in labels.items():
        problem = _key_problem(key)
        if problem is not None:
            raise SpecError(f"label key `{_shown(key)}` is not valid: {problem}", path=where)
        if len(value) > LABEL_VALUE_LIMIT:
            raise SpecError(
                f"label `{key}`: the value is {len(value)} characters; Kubernetes allows at most"
                f" {LABEL_VALUE_LIMIT} (put longer text in an annotation)",
                path=where,
            )
        if value and not _NAME_PART.fullmatch(value):
            raise SpecError(
                f"label `{key}`: the value `{_shown(value)}` is not valid: use letters, digits, `-`,"
                " `_` and `.`, starting and ending with a letter or digit (or put it in an annotation)",
                path=where,
            )


def check_annotations(annotations: Mapping[str, str], where: str) -> None:
    """Raise a SpecError naming ``where`` for an invalid annotation key or an oversized total."""
    total = 0
    for key, value in annotations.items():
        problem = _key_problem(key)
        if problem is not None:
            raise SpecError(f"annotation key `{_shown(key)}` is not valid: {problem}", path=where)
        total += len(key.encode("utf-8")) + len(value.encode("utf-8"))
    if total > ANNOTATIONS_LIMIT:
        raise SpecError(
            f"the annotations take {total} bytes; Kubernetes allows {ANNOTATIONS_LIMIT} bytes in all"
            " for one object: shorten or remove some",
            path=where,
        )


def check_namespace(namespace: str) -> None:
    """Raise a SpecError when ``namespace`` cannot be a Kubernetes namespace name."""
    if len(namespace) > NAME_PART_LIMIT or not _DNS_LABEL.fullmatch(namespace):
        raise SpecError(
            f"namespace `{_shown(namespace)}` is not a valid name: use at most {NAME_PART_LIMIT}"
            " lower-case letters, digits and `-`, starting and ending with a letter or digit",
            path="namespace",
        )


def check_object_name(name: str, what: str, where: str) -> None:
    """Raise a SpecError naming ``where`` when ``name`` cannot name a Secret, a ServiceAccount
    or another object whose names are DNS subdomains (``*`` and the empty name included)."""
    if len(name) > PREFIX_LIMIT or not _DNS_SUBDOMAIN.fullmatch(name):
        raise SpecError(
            f"{what} `{_shown(name)}` is not a valid name: use at most {PREFIX_LIMIT} lower-case"
            " letters, digits, `-` and `.`, starting and ending with a letter or digit",
            path=where,
        )


def is_config_map_key(key: str) -> bool:
    """True when ``key`` can be a key of a ConfigMap's data."""
    return (
        len(key) <= CONFIG_MAP_KEY_LIMIT
        and key not in (".", "..")
        and _CONFIG_MAP_KEY.fullmatch(key) is not None
    )


def check_config_map_key(key: str, where: str) -> None:
    """Raise a SpecError when ``key`` cannot be a key of a ConfigMap's data."""
    if not is_config_map_key(key):
        raise SpecError(
            f"`{_shown(key)}` cannot be a file name in the build's ConfigMap: use at most"
            f" {CONFIG_MAP_KEY_LIMIT} letters, digits, `-`, `_` and `.` (not `.` or `..`)",
            path=where,
        )
