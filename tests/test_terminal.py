"""The terminal progress display: a redrawn status line on a TTY, plain lines otherwise."""

from __future__ import annotations

import io

from polymagic.progress import EventKind, KanikoLogParser, ProgressEvent
from polymagic.terminal import TerminalProgress

STEPS = ["FROM python:3.11", "ENV A b", "RUN pip install x"]


def _events() -> list[ProgressEvent]:
    parser = KanikoLogParser(STEPS)
    events = [
        ProgressEvent(EventKind.SCHEDULED, "on node-1"),
        ProgressEvent(EventKind.STARTED, "kaniko"),
    ]
    for line in (
        "\x1b[36mINFO\x1b[0m[0001] ENV A b ",
        "Collecting x",
        "\x1b[36mINFO\x1b[0m[0002] RUN pip install x ",
    ):
        events += parser.feed(line)
    return [*events, ProgressEvent(EventKind.SUCCEEDED, "r/x@sha256:" + "a" * 64)]


def test_tty_shows_phase_step_and_elapsed_on_one_redrawn_line() -> None:
    stream = io.StringIO()
    display = TerminalProgress(stream, tty=True)
    for event in _events():
        display.on_event(event)
    text = stream.getvalue()
    assert "\r\x1b[K[00:00] running | step 2/2: RUN pip install x" in text
    assert "  Collecting x\n" in text
    assert text.endswith("polymagic: [00:00] succeeded\n")


def test_plain_stream_gets_one_line_per_phase_and_step() -> None:
    stream = io.StringIO()
    display = TerminalProgress(stream, tty=False, show_logs=False)
    for event in _events():
        display.on_event(event)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "polymagic: [00:00] scheduled: on node-1",
        "polymagic: [00:00] running: kaniko",
        "polymagic: [00:00] step 1/2: ENV A b",
        "polymagic: [00:00] step 2/2: RUN pip install x",
        "polymagic: [00:00] succeeded",
    ]
    assert "\x1b" not in stream.getvalue()
