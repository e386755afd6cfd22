"""The terminal progress display (a redrawn status line on a TTY, plain lines otherwise) and the
sanitiser it shows outside text through."""

from __future__ import annotations

import io
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polymagic.cli.terminal import TerminalProgress
from polymagic.outcome.events import BuildStep, EventKind, ProgressEvent
from polymagic.outcome.kaniko_log import KanikoLogParser
from polymagic.outcome.result import BuildResult
from polymagic.printable import HIDDEN, printable

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
    display = TerminalProgress(stream, tty=True, min_interval=0)
    for event in _events():
        display.on_event(event)
    text = stream.getvalue()
    assert "\r\x1b[K[0.0 s] running | step 2/2: RUN pip install x" in text
    assert "  Collecting x\n" in text
    assert text.endswith("polymagic: [0.0 s] succeeded\n")


def test_plain_stream_gets_one_line_per_phase_and_step() -> None:
    stream = io.StringIO()
    display = TerminalProgress(stream, tty=False, show_logs=False)
    for event in _events():
        display.on_event(event)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "polymagic: [0.0 s] scheduled: on node-1",
        "polymagic: [0.0 s] running: kaniko",
        "polymagic: [0.0 s] step 1/2: ENV A b",
        "polymagic: [0.0 s] step 2/2: RUN pip install x",
        "polymagic: [0.0 s] succeeded",
    ]
    assert "\x1b" not in stream.getvalue()


def test_elapsed_time_under_a_minute_has_a_tenth_of_a_second() -> None:
    now = [100.0]
    stream = io.StringIO()
    display = TerminalProgress(stream, tty=False, show_logs=False, clock=lambda: now[0])
    now[0] = 100.34
    display.on_event(ProgressEvent(EventKind.SCHEDULED, "on node-1"))
    now[0] = 165.2
    display.on_event(ProgressEvent(EventKind.SUCCEEDED, "r/x@sha256:" + "a" * 64))
    assert stream.getvalue().splitlines() == [
        "polymagic: [0.3 s] scheduled: on node-1",
        "polymagic: [01:05] succeeded",
    ]


# -- the sanitiser: what a terminal is shown of text from outside -------------------------------

# Text that drives a terminal: escapes, controls and the C1 range, mixed with ordinary text.
_HOSTILE = st.lists(
    st.one_of(
        st.text(),
        st.sampled_from(["\x1b", "\x1b[", "\x1b]", "\x1bP", "\x9b", "\x9d", "\x9c", "\x07"]),
        st.characters(max_codepoint=0xA0),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    ),
    max_size=40,
).map("".join)
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@settings(max_examples=400, deadline=None)
@given(_HOSTILE)
def test_printable_leaves_no_control_but_tab_for_any_text(text: str) -> None:
    shown = printable(text)
    assert _CONTROL.search(shown) is None
    assert printable(shown) == shown
    shown.encode("utf-8")  # always writable to a UTF-8 stream


@settings(max_examples=200, deadline=None)
@given(_HOSTILE)
def test_printable_keeping_newlines_leaves_only_tab_and_newline(text: str) -> None:
    shown = printable(text, keep_newlines=True)
    assert _CONTROL_BUT_NEWLINE.search(shown) is None
    assert shown.count("\n") == text.replace("\r\n", "\n").count("\n")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60))
def test_printable_reads_any_bytes_as_utf8_with_replacement(data: bytes) -> None:
    shown = printable(data)
    assert _CONTROL.search(shown) is None
    assert shown == printable(data.decode("utf-8", errors="replace"))


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp"))))
def test_printable_leaves_ordinary_text_alone(text: str) -> None:
    # Format characters and separators are escaped (tests/test_printable.py), as are the few
    # printable characters that show nothing (HIDDEN).
    assert printable(text) == text or any(ord(c) in HIDDEN for c in text)


def test_an_ascii_only_stream_gets_escapes_not_an_exception() -> None:
    # A CI log or a C-locale stderr: the replacement character of a bad byte cannot be encoded.
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii", errors="strict", write_through=True)
    display = TerminalProgress(stream, tty=False)
    for event in KanikoLogParser([]).feed("bad bytes \udcff and a marker … done"):
        display.on_event(event)
    display.on_event(ProgressEvent(EventKind.WARNING, "caf\u00e9 registry"))
    assert raw.getvalue().decode("ascii").splitlines() == [
        "  bad bytes \\ufffd and a marker \\u2026 done",
        "polymagic: warning: caf\\xe9 registry",
    ]


# -- rate and summary ---------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("tty", [True, False], ids=["tty", "plain"])
def test_a_flood_of_lines_is_written_at_a_bounded_rate(tty: bool) -> None:
    # 100,000 lines within 0.1 s of build time (one per microsecond): before, every line was
    # one write, one clear and one redraw of the status line, and one flush.
    stream = io.StringIO()
    clock = _Clock()
    display = TerminalProgress(stream, tty=tty, min_interval=0.1, clock=clock)
    display.on_event(ProgressEvent(EventKind.STARTED, "kaniko"))
    for number in range(100_000):
        clock.now += 0.000001
        display.on_event(ProgressEvent(EventKind.LOG, f"line {number}"))
    display.close()
    # One write per interval, plus one per 10,000 lines held (memory stays bounded).
    assert display.writes <= 2 + 1 + 100_000 // 10_000
    text = stream.getvalue()
    assert text.count("  line ") == 100_000
    assert "  line 99999\n" in text


def test_the_last_lines_of_a_burst_are_written_by_the_timer() -> None:
    stream = io.StringIO()
    display = TerminalProgress(stream, tty=False, min_interval=0.05)
    for number in range(3):
        display.on_event(ProgressEvent(EventKind.LOG, f"line {number}"))
    deadline = time.monotonic() + 5
    while "line 2" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.getvalue().splitlines() == ["  line 0", "  line 1", "  line 2"]


def test_the_summary_shows_steps_cached_marks_and_the_size() -> None:
    steps = (
        BuildStep(number=1, total=2, name="ENV A b", duration=0.0, cached=False),
        BuildStep(number=2, total=2, name="RUN pip install x", duration=12.34, cached=True),
    )
    result = BuildResult(
        name="b", namespace="ns", image="r/x@sha256:" + "a" * 64, digest="sha256:" + "a" * 64,
        tags=("r/x",), duration=13.0, pod_name="b", spec_hash="f" * 64, executor_image="k",
        log_tail=(), steps=steps, size=3 * 1024 * 1024 + 5,
    )  # fmt: skip
    stream = io.StringIO()
    display = TerminalProgress(stream, tty=True)
    display.on_event(ProgressEvent(EventKind.SUCCEEDED, result.image))
    display.summary(result)
    lines = stream.getvalue().splitlines()
    assert lines[-3:] == [
        "polymagic: [1/2] ENV A b" + " " * 53 + "   0.0s",
        "polymagic: [2/2] RUN pip install x" + " " * 43 + " CACHED",
        "polymagic: image size: 3.0 MiB (3,145,733 bytes: config and layers, from the"
        " registry's manifest)",
    ]
    unknown = BuildResult(**{**result.__dict__, "size": None, "notes": ("the registry said 503",)})
    assert unknown.summary()[-2:] == ["image size: unknown", "the registry said 503"]
