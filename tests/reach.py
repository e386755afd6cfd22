"""How far a property test's examples got: counted per stage, printed, and held to floors.

A property test whose examples all stop at the first check proves nothing about the code after
it. Each property test therefore counts, for every example, the stages it reached (``loaded``,
``compiled``, ``manifests``, ...; hypothesis ``event()``s too, for
``--hypothesis-show-statistics``) and ends with :meth:`Reach.require`, which fails when a stage
was reached by fewer examples than its floor. The counts appear in pytest's terminal summary
(the ``reach`` fixture of the root conftest records them).

Floors are fractions of the examples run, set well under what the strategies give (the
derandomised CI profile and random runs both), so they catch a strategy that stopped reaching a
stage, not noise. A random run may stop early (hypothesis ends a search that finds few valid
examples), and a small sample's share varies: a stage is short when fewer than the floor's
count less two standard deviations reached it, and at least one example must reach it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from hypothesis import event
from hypothesis.control import currently_in_test_context

__all__ = ["Reach"]


class Reach:
    """Per-stage example counts of one property test."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.examples = 0
        self.counts: Counter[str] = Counter()

    def example(self) -> None:
        """One more example started (call once per example, before its stages)."""
        self.examples += 1

    def reached(self, stage: str) -> None:
        """The current example got to ``stage``."""
        self.counts[stage] += 1
        if currently_in_test_context():
            event(f"reached {stage}")

    def reached_all(self, stages: Iterable[str]) -> None:
        for stage in stages:
            self.reached(stage)

    def summary(self) -> str:
        stages = ", ".join(f"{stage} {count}" for stage, count in sorted(self.counts.items()))
        return f"{self.name}: {self.examples} examples; {stages or 'no stage reached'}"

    def require(self, **floors: float) -> None:
        """Each ``stage=fraction``: the stage was reached by that share of the examples, less
        two standard deviations of a random sample of this size, and by one at least."""
        assert self.examples > 0, f"{self.name}: no example ran"
        short = {
            stage: (self.counts[stage], floor)
            for stage, floor in floors.items()
            if self.counts[stage] < _least(floor, self.examples)
        }
        assert not short, f"{self.summary()}: below the floor: " + "; ".join(
            f"{stage} {count} < {_least(floor, self.examples)} ({floor:.0%} of {self.examples},"
            " less two standard deviations)"
            for stage, (count, floor) in short.items()
        )


def _least(floor: float, examples: int) -> int:
    """The fewest examples of ``examples`` that must reach a stage whose floor is ``floor``."""
    expected = floor * examples
    spread = 2 * math.sqrt(expected * (1 - floor)) if 0 < floor < 1 else 0.0
    return max(1 if floor > 0 else 0, math.ceil(expected - spread))
