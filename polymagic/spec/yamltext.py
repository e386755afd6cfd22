"""YAML text for people: multi-line strings (Dockerfiles) as literal blocks, keys in order.

Written with libyaml's emitter when PyYAML has it: the pure-Python one takes minutes on a
50 MB string. The two differ only in layout corner cases (a ``...`` end marker after some
block scalars, explicit ``? key`` for keys with escapes); the data read back is the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

__all__ = ["dump_yaml", "dump_yaml_all"]

_BASE: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BASE):  # type: ignore[misc,valid-type]
    """A safe dumper that writes multi-line strings as ``|`` blocks, so Dockerfiles stay readable."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    """One YAML document."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)


def dump_yaml_all(documents: Iterable[Any]) -> str:
    """Several YAML documents separated by ``---``."""
    return yaml.dump_all(
        list(documents), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120
    )
