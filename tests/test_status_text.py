"""The short texts every front end shares: durations, a reused build, an empty list."""

from __future__ import annotations

import pytest

from polymagic.outcome.status_text import duration_text, no_builds_text, reused_text


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.0, "0.0 s"),
        (0.34, "0.3 s"),
        (12.25, "12.2 s"),
        (59.94, "59.9 s"),
        (59.96, "01:00"),  # rounds to a minute: shown as one
        (61.7, "01:01"),
        (3725.0, "62:05"),
        (-1.0, "0.0 s"),  # a clock that went back is no negative time
    ],
    ids=str,
)
def test_durations_under_a_minute_show_a_tenth_of_a_second(seconds: float, shown: str) -> None:
    assert duration_text(seconds) == shown


def test_a_reused_build_has_no_duration() -> None:
    assert reused_text() == "reused — built earlier (no pod)"
    assert reused_text("2026-12-07T12:00:00+00:00") == (
        "reused — built 2026-12-07T12:00:00+00:00 (no pod)"
    )


def test_an_empty_list_names_the_namespace_and_why_it_may_be_empty() -> None:
    assert no_builds_text("ml") == (
        "no polymagic builds in namespace `ml`: finished builds are deleted with their pods"
        " unless built with --keep"
    )
    assert no_builds_text(None).startswith("no polymagic builds in any namespace: ")
    assert "\n" not in no_builds_text("ml")
