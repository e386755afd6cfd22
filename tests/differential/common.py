"""What the differential case generators share: JSON values, pools of values, and the split of a
pool into values Polyaxon accepts and values it rejects."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["BASE_IMAGE", "DIGEST", "MISSING", "Json", "Pool", "Values", "json_copy", "pick"]

Json = Any
Pool = Sequence[Json]

BASE_IMAGE = "python:3.11"
DIGEST = "sha256:" + "0123456789abcdef" * 4
MISSING = object()
"""A pool entry that means "leave the key out"."""


def json_copy(value: Json) -> Json:
    """``value`` as it arrives on the other side of the oracle's JSON pipe."""
    return json.loads(json.dumps(value))


def pick(rng: random.Random, pool: Pool) -> Json:
    return json_copy(rng.choice(list(pool)))


@dataclass(frozen=True)
class Values:
    """The values tried for one key: those Polyaxon accepts and those it rejects.

    The split only steers the random cases towards valid documents; what counts as valid
    is always decided by the oracle.
    """

    valid: Pool
    invalid: Pool = ()

    @property
    def every(self) -> tuple[Json, ...]:
        return (*self.valid, *self.invalid)

    def draw(self, rng: random.Random, invalid_rate: float) -> Json:
        pool = self.invalid if self.invalid and rng.random() < invalid_rate else self.valid
        return pick(rng, pool)
