"""The property tests' floors (``tests.reach``): a stage no example reached, or one reached far
less often than its floor, fails; a small random sample's usual spread does not."""

from __future__ import annotations

import pytest

from tests.reach import Reach


def _reach(examples: int, reached: int) -> Reach:
    reach = Reach("t")
    for number in range(examples):
        reach.example()
        if number < reached:
            reach.reached("manifests")
    return reach


@pytest.mark.parametrize(
    ("examples", "reached"), [(62, 1), (250, 3), (250, 15), (100, 50)], ids=str
)
def test_a_sample_within_its_spread_meets_the_floor(examples: int, reached: int) -> None:
    floor = 0.3 if reached == 50 else 0.03
    _reach(examples, reached).require(manifests=floor)


@pytest.mark.parametrize(
    ("examples", "reached", "floor"),
    [(62, 0, 0.03), (250, 2, 0.03), (100, 20, 0.3), (10, 0, 0.5)],
    ids=str,
)
def test_a_stage_reached_too_seldom_fails(examples: int, reached: int, floor: float) -> None:
    with pytest.raises(AssertionError, match="below the floor: manifests"):
        _reach(examples, reached).require(manifests=floor)


def test_no_example_fails() -> None:
    with pytest.raises(AssertionError, match="no example ran"):
        Reach("t").require(manifests=0.1)
