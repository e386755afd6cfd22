"""The build progress widget, tested as a widget: real Kaniko events in, widget values out."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from polymagic.errors import ApiError, BuildFailed, PodEvent
from polymagic.kube.session import BuildResult
from polymagic.notebook import progress_widget
from polymagic.notebook.progress_layout import LOG_CLASS, live_log_html
from polymagic.notebook.progress_widget import BuildProgress, Outcome
from polymagic.outcome.events import BuildStep, EventKind, ProgressEvent
from polymagic.outcome.kaniko_log import KanikoLogParser

DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = f"registry.example.com/org/app@{DIGEST}"
INSTRUCTIONS = ["FROM python:3.11", "RUN pip install x", "RUN echo <done>"]
KANIKO_LOG = [
    "\x1b[36mINFO\x1b[0m[0000] Retrieving image manifest python:3.11",
    "\x1b[36mINFO\x1b[0m[0001] RUN pip install x ",
    "Collecting x",
    "\x1b[36mINFO\x1b[0m[0004] RUN echo <done>",
    "<done>",
    "\x1b[36mINFO\x1b[0m[0005] Pushing image to registry.example.com/org/app",
    f"\x1b[36mINFO\x1b[0m[0006] Pushed {IMAGE}",
]


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def progress_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("polymagic-progress")]


@pytest.fixture
def make() -> Iterator[Callable[..., BuildProgress]]:
    """Widgets made by a test; closed afterwards, and no timer or ticker may outlive them."""
    made: list[BuildProgress] = []

    def factory(*args: Any, **kwargs: Any) -> BuildProgress:
        widget = BuildProgress(*args, **kwargs)
        made.append(widget)
        return widget

    yield factory
    for widget in made:
        widget.close()
        assert not Path(widget.full_log_path).exists()
    assert progress_threads() == []


def events(lines: list[str], instructions: list[str] = INSTRUCTIONS) -> list[ProgressEvent]:
    parser = KanikoLogParser(instructions)
    return [event for line in lines for event in parser.feed(line)]


def result() -> BuildResult:
    return BuildResult(
        name="app",
        namespace="ml",
        image=IMAGE,
        digest=DIGEST,
        tags=("registry.example.com/org/app",),
        duration=6.0,
        pod_name="app",
        spec_hash="f" * 64,
        executor_image="gcr.io/kaniko-project/executor:latest",
        log_tail=(),
    )


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_follows_kaniko_events(make: Callable[..., BuildProgress]) -> None:
    progress = make("app", 2, min_interval=0)
    assert progress.step_label.value == "step 0/2"
    for event in events(KANIKO_LOG[:4]):
        progress.on_event(event)

    assert progress.step_bar.max == 2
    assert progress.step_bar.value == 2
    assert progress.step_label.value == "step 2/2: RUN echo <done>"
    assert progress.phase_label.value == "building"
    assert "Collecting x" in progress.log_pane.value
    assert "&lt;done&gt;" in progress.log_pane.value  # escaped: the pane is HTML
    assert progress.full_log_path in progress.log_note.value

    for event in events(KANIKO_LOG)[-2:]:
        progress.on_event(event)
    assert progress.phase_label.value == f"pushed {IMAGE}"


def test_success_shows_the_pushed_image(make: Callable[..., BuildProgress]) -> None:
    progress = make("app", 2, min_interval=0)
    for event in events(KANIKO_LOG):
        progress.on_event(event)
    progress.finish_success(result())

    assert progress.outcome is Outcome.SUCCEEDED
    assert progress.image_text.value == IMAGE
    assert progress.image_text.layout.display == ""
    assert progress.stop_button.layout.display == "none"
    assert progress.step_bar.bar_style == "success"
    assert "succeeded" in progress.outcome_pane.value
    progress.image_text.value = "edited by the user"
    assert progress.image_text.value == IMAGE  # read-only in effect, still selectable
    assert progress.text().splitlines()[:2] == ["polymagic build `app`: succeeded in 6.0 s", IMAGE]
    assert progress_threads() == []


def test_success_shows_the_steps_cached_marks_and_the_image_size(
    make: Callable[..., BuildProgress],
) -> None:
    progress = make("app", 2, min_interval=0)
    steps = (
        BuildStep(number=1, total=2, name="ENV A b", duration=0.02, cached=False),
        BuildStep(number=2, total=2, name="RUN pip install <x>", duration=None, cached=True),
    )
    progress.finish_success(replace(result(), steps=steps, size=2048))

    pane = progress.outcome_pane.value
    assert "[1/2] ENV A b" in pane
    assert "0.0s" in pane
    assert "[2/2] RUN pip install &lt;x&gt;" in pane
    assert "CACHED" in pane
    assert "image size: 2.0 KiB (2,048 bytes" in pane
    text = progress.text().splitlines()
    assert text[2].startswith("[1/2] ENV A b")
    assert text[3].endswith("CACHED")
    assert text[4].startswith("image size: 2.0 KiB")


def test_full_log_is_kept_on_disk_while_memory_is_bounded(
    make: Callable[..., BuildProgress],
) -> None:
    progress = make("app", 0, tail_lines=5, min_interval=0)
    for number in range(50):
        progress.on_event(ProgressEvent(EventKind.LOG, f"L{number:03d}"))

    pane = progress.log_pane.value
    assert [f"L{n:03d}" in pane for n in (44, 45, 49)] == [False, True, True]
    assert "showing the last 5 of 50 log lines" in progress.log_note.value
    progress.finish_cancelled("cancelled by the user")
    lines = Path(progress.full_log_path).read_text(encoding="utf-8").splitlines()
    assert lines == [f"L{n:03d}" for n in range(50)]


def test_failure_shows_reason_events_and_log_tail(make: Callable[..., BuildProgress]) -> None:
    progress = make("app", 2, min_interval=0)
    error = BuildFailed(
        name="app",
        reason="FailedMount",
        started=False,
        fix="fix it",
        events=[
            PodEvent("Warning", "FailedMount", 'secret "<regcred>" not found'),
            PodEvent("Normal", "Scheduled", "ok"),
        ],
    )
    progress.finish_failure(error, log_tail=["<b>last</b>"])

    assert progress.outcome is Outcome.FAILED
    pane = progress.outcome_pane.value
    assert "stuck in FailedMount (no message)\nfix: fix it" in pane
    assert "<li>Warning FailedMount: secret &quot;&lt;regcred&gt;&quot; not found</li>" in pane
    assert "<li>Normal Scheduled: ok</li>" in pane
    assert "&lt;b&gt;last&lt;/b&gt;" in pane
    assert "<b>last</b>" not in pane
    assert progress.step_bar.bar_style == "danger"
    text = progress.text()
    assert "Events:\n  Warning FailedMount" in text
    assert "last log lines:\n  <b>last</b>" in text


def test_failure_shows_the_log_tail_the_error_carries(make: Callable[..., BuildProgress]) -> None:
    progress = make("app", 2)
    error = BuildFailed(
        name="app", reason="Error", exit_code=1, detail="boom", log_tail=("error one", "error two")
    )
    progress.finish_failure(error, log_tail=["read so far"])
    assert (
        "build `app` failed: the executor exited with code 1 (Error): boom\n"
        "last log lines:\n  error one\n  error two\n" in progress.text()
    )
    assert "read so far" not in progress.text()


def test_failure_of_the_cluster_shows_its_message_and_the_log_so_far(
    make: Callable[..., BuildProgress],
) -> None:
    progress = make("app", 2)
    error = ApiError("watching Pod `app`: permission denied (403 Forbidden)", status=403)
    progress.finish_failure(error, log_tail=["line one"])
    assert "permission denied (403 Forbidden)\nlast log lines:\n  line one" in progress.text()


def test_the_first_ending_wins_and_later_events_are_ignored(
    make: Callable[..., BuildProgress],
) -> None:
    progress = make("app", 2, min_interval=0)
    progress.finish_cancelled("build `app` cancelled")
    progress.finish_success(result())
    progress.on_event(ProgressEvent(EventKind.LOG, "late"))

    assert progress.outcome is Outcome.CANCELLED
    assert "late" not in progress.log_pane.value
    assert progress.text().startswith("polymagic build `app`: cancelled")
    assert progress.step_bar.bar_style == "warning"


def test_stop_button_calls_the_cancel_callback_once(make: Callable[..., BuildProgress]) -> None:
    progress = make("app", 2)
    calls: list[str] = []
    assert progress.stop_button.disabled  # nothing to call yet
    progress.stop_button.click()

    progress.set_cancel(lambda: calls.append("cancel"))
    assert not progress.stop_button.disabled
    progress.stop_button.click()
    progress.stop_button.click()

    assert calls == ["cancel"]
    assert progress.stop_button.disabled
    assert progress.stop_button.description == "stopping…"
    assert progress.phase_label.value == "stopping…"
    assert "stopping…" in progress.text()


def test_stop_button_is_enabled_again_when_cancel_fails(
    make: Callable[..., BuildProgress],
) -> None:
    progress = make("app", 2)

    def broken() -> None:
        raise RuntimeError("the cluster is gone")

    progress.set_cancel(broken)
    with pytest.raises(RuntimeError):
        progress._on_stop(progress.stop_button)  # what the click handler runs
    assert not progress.stop_button.disabled
    assert progress.stop_button.description == "Stop"


def test_a_burst_of_events_is_throttled(make: Callable[..., BuildProgress]) -> None:
    clock = FakeClock()  # build time stands still: only the flush timer may push again
    progress = make("app", 0, min_interval=0.1, clock=clock)
    updates: list[str] = []
    progress.log_pane.observe(lambda change: updates.append(change["new"]), names="value")

    started = time.monotonic()
    for number in range(1000):
        progress.on_event(ProgressEvent(EventKind.LOG, f"line {number}"))
    burst = time.monotonic() - started
    wait_until(lambda: "line 999" in progress.log_pane.value)  # the timer flushed the last state

    # The first event is shown at once, the rest by the timer (once per 0.1 s of real time).
    assert "line 0" in updates[0]
    assert 2 <= len(updates) <= 2 + burst / 0.1


def test_updates_are_at_most_one_per_interval(make: Callable[..., BuildProgress]) -> None:
    clock = FakeClock()
    progress = make("app", 0, min_interval=0.1, clock=clock)
    updates: list[str] = []
    progress.log_pane.observe(lambda change: updates.append(change["new"]), names="value")

    started = time.monotonic()
    for number in range(1000):  # one second of build time, one event per millisecond
        clock.now += 0.001
        progress.on_event(ProgressEvent(EventKind.LOG, f"line {number}"))
    burst = time.monotonic() - started
    wait_until(lambda: "line 999" in progress.log_pane.value)

    # About one push per 0.1 s of build time; a flush timer may add one per interval.
    assert 9 <= len(updates) <= 2 * (10 + burst / 0.1) + 1


def test_finishing_cancels_a_pending_flush(make: Callable[..., BuildProgress]) -> None:
    progress = make("app", 0, min_interval=60.0)
    progress.on_event(ProgressEvent(EventKind.LOG, "first"))
    progress.on_event(ProgressEvent(EventKind.LOG, "second"))  # waits for a 60 s timer
    assert "second" not in progress.log_pane.value
    assert progress_threads() != []

    progress.finish_success(result())
    assert "second" in progress.log_pane.value  # the final state is pushed at once
    assert progress_threads() == []


def test_events_from_many_threads_end_consistently(make: Callable[..., BuildProgress]) -> None:
    progress = make("app", 0, tail_lines=50, min_interval=0.001)
    start = threading.Barrier(8)

    def feed(worker: int) -> None:
        start.wait()
        for number in range(500):
            progress.on_event(ProgressEvent(EventKind.LOG, f"w{worker} {number}"))

    workers = [threading.Thread(target=feed, args=(n,)) for n in range(8)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to provoke races
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(switch)
    progress.finish_success(result())

    written = Path(progress.full_log_path).read_text(encoding="utf-8").splitlines()
    assert len(written) == 4000
    for n in range(8):  # each thread's lines in its own order
        assert [line for line in written if line.startswith(f"w{n} ")] == [
            f"w{n} {i}" for i in range(500)
        ]
    assert progress.log_pane.value == live_log_html(written[-50:])
    assert "showing the last 50 of 4000 log lines" in progress.log_note.value
    assert progress.image_text.value == IMAGE
    assert progress_threads() == []


def test_elapsed_time_ticks_while_running_and_stops_after(
    make: Callable[..., BuildProgress], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_widget, "_TICK", 0.01)
    clock = FakeClock()
    progress = make("app", 1, clock=clock)
    assert progress.elapsed_label.value == "0.0 s"
    progress.on_event(ProgressEvent(EventKind.SCHEDULED, "on node-1"))
    assert [t.name for t in progress_threads()] == ["polymagic-progress-ticker"]

    clock.now = 65.0
    wait_until(lambda: progress.elapsed_label.value == "01:05")
    clock.now = 70.0
    progress.finish_cancelled("build `app` cancelled")
    assert progress_threads() == []
    assert progress.elapsed_label.value == "01:10"
    clock.now = 200.0
    assert "cancelled after 01:10" in progress.text()  # frozen at the end


def test_mimebundle_has_the_widget_and_a_text_summary(make: Callable[..., BuildProgress]) -> None:
    progress = make("app", 2, min_interval=0)
    for event in events(KANIKO_LOG[:2]):
        progress.on_event(event)

    bundle = progress._repr_mimebundle_(include=None, exclude=None)
    assert bundle is not None
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == progress.model_id
    assert bundle["text/plain"] == progress.text()
    assert bundle["text/plain"].splitlines()[:2] == [
        "polymagic build `app`: building [0.0 s]",
        "step 1/2: RUN pip install x",
    ]
    assert repr(progress) == progress.text()


def test_warnings_are_shown(make: Callable[..., BuildProgress]) -> None:
    progress = make("app", 1, min_interval=0)
    progress.on_event(ProgressEvent(EventKind.WARNING, "the build log could not be <read>"))
    assert "warning: the build log could not be &lt;read&gt;" in progress.log_note.value
    assert "warning: the build log could not be <read>" in progress.text()


def test_close_stops_everything(make: Callable[..., BuildProgress]) -> None:
    progress = make("app", 1, min_interval=60.0)
    progress.on_event(ProgressEvent(EventKind.LOG, "one"))
    progress.on_event(ProgressEvent(EventKind.LOG, "two"))
    assert progress_threads() != []
    progress.close()
    assert progress_threads() == []
    assert progress.step_bar.comm is None
    progress.on_event(ProgressEvent(EventKind.LOG, "after close"))  # ignored, starts nothing
    assert progress_threads() == []


def test_text_from_outside_reaches_the_widget_without_control_characters(
    make: Callable[..., BuildProgress],
) -> None:
    """Log lines, pod messages and registry answers may hold terminal control (a RUN step, a
    misbehaving registry): the panes, the text summary and the full log file show none."""
    unsafe = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
    progress = make("app", 2, min_interval=0)
    progress.on_event(ProgressEvent(EventKind.LOG, "\x1bc\x1b]0;title\x07RUN output \x9b2J\x07"))
    progress.on_event(ProgressEvent(EventKind.WAITING, "ErrImagePull: \x1b[31mdenied\x1b[0m"))
    progress.on_event(ProgressEvent(EventKind.WARNING, "registry said \x1b]52;c;eA==\x07NOPE\x08"))
    assert "RUN output \\x07" in progress.log_pane.value
    assert "registry said NOPE\\x08" in progress.log_note.value
    assert progress.phase_label.value == "waiting: ErrImagePull: denied"
    running = progress.text()
    progress.finish_failure(
        BuildFailed(
            name="app",
            reason="Error",
            exit_code=1,
            detail="\x1bc exit 1",
            events=[PodEvent("Warning", "Failed", "\x1b[2Jgone")],
            log_tail=("line \x1b7one\x1b8", "line\x07two"),
        )
    )
    shown = [
        progress.log_pane.value,
        progress.log_note.value,
        progress.outcome_pane.value,
        progress.phase_label.value,
        running,
        progress.text(),
        Path(progress.full_log_path).read_text(encoding="utf-8"),
    ]
    assert [unsafe.findall(text) for text in shown] == [[]] * len(shown)
    assert "last log lines:\n  line one\n  line\\x07two" in progress.text()
    assert "<li>Warning Failed: gone</li>" in progress.outcome_pane.value


def test_a_fast_build_reads_a_tenth_of_a_second_and_a_slow_one_minutes(
    make: Callable[..., BuildProgress],
) -> None:
    clock = FakeClock()
    fast = make("app", 2, min_interval=0, clock=clock)
    slow = make("slow", 2, min_interval=0, clock=clock)
    clock.now = 0.5  # the widget came up after the submission: the result's time wins
    fast.finish_success(replace(result(), duration=0.34))
    assert (fast.phase_label.value, fast.elapsed_label.value) == ("succeeded", "0.3 s")
    assert "<strong>succeeded</strong> in 0.3 s" in fast.outcome_pane.value
    assert fast.text().splitlines()[0] == "polymagic build `app`: succeeded in 0.3 s"
    assert "00:00" not in fast.text() + fast.outcome_pane.value
    clock.now = 65.0
    slow.finish_failure(BuildFailed(name="slow", reason="Error", exit_code=1, detail="boom"))
    assert slow.elapsed_label.value == "01:05"
    assert "<strong>failed</strong> after 01:05" in slow.outcome_pane.value


def test_a_reused_build_says_so_instead_of_a_duration(make: Callable[..., BuildProgress]) -> None:
    clock = FakeClock()
    progress = make("app", 2, min_interval=0, clock=clock)
    clock.now = 0.04
    progress.finish_success(replace(result(), reused=True, duration=0.04))
    assert progress.elapsed_label.value == "reused — built earlier (no pod)"
    assert "<strong>succeeded</strong>: reused — built earlier (no pod)" in (
        progress.outcome_pane.value
    )
    shown = progress.text() + progress.outcome_pane.value + progress.final_view().html
    assert "0.0 s" not in shown
    assert "duration" not in shown
    later = make("again", 2, min_interval=0)
    later.finish_success(replace(result(), reused=True), built_at="2026-12-07T12:00:00+00:00")
    assert later.elapsed_label.value == "reused — built 2026-12-07T12:00:00+00:00 (no pod)"


def test_the_log_box_is_one_scrolling_element_whose_origin_is_the_bottom(
    make: Callable[..., BuildProgress],
) -> None:
    """The pane's HTML is replaced at each update; the box around it is a widget of its own,
    so the page keeps one scrolling element (and the user's scroll position in it)."""
    progress = make("app", 0, min_interval=0)
    box = next(child for child in progress.children if LOG_CLASS in child._dom_classes)
    assert box.children == (progress.log_pane,)
    assert (box.layout.overflow, box.layout.flex_flow) == ("auto", "column-reverse")
    assert box.layout.max_height == "18em"
    progress.on_event(ProgressEvent(EventKind.LOG, "first"))
    before = progress.log_pane.value
    progress.on_event(ProgressEvent(EventKind.LOG, "second"))
    assert progress.log_pane.value != before
    assert next(c for c in progress.children if LOG_CLASS in c._dom_classes) is box
    assert "column-reverse" not in progress.log_pane.value  # the box scrolls, not the pane


def test_the_ended_build_as_static_html_and_text(make: Callable[..., BuildProgress]) -> None:
    progress = make("app", 2, min_interval=0)
    for event in events(KANIKO_LOG):
        progress.on_event(event)
    steps = (BuildStep(number=1, total=2, name="RUN pip install <x>", duration=1.5, cached=False),)
    progress.finish_success(replace(result(), steps=steps, size=2048))

    bundle = progress.final_view()._repr_mimebundle_()
    assert sorted(bundle) == ["text/html", "text/plain"]  # no widget state needed
    page = bundle["text/html"]
    assert "polymagic build</strong> <code>app</code>" in page
    assert "<strong>succeeded</strong> in 6.0 s" in page
    assert "[1/2] RUN pip install &lt;x&gt;" in page
    assert "image size: 2.0 KiB" in page
    assert f"image <code>{IMAGE}</code>" in page
    assert "RUN echo &lt;done&gt;" in page  # the log's last lines
    assert "flex-direction:column-reverse" in page  # opens on the last line, without script
    assert "<script" not in page
    assert bundle["text/plain"] == progress.text()
    assert bundle["text/plain"].splitlines()[:2] == [
        "polymagic build `app`: succeeded in 6.0 s",
        IMAGE,
    ]


def test_a_failure_as_static_html_and_text(make: Callable[..., BuildProgress]) -> None:
    progress = make("app", 2, min_interval=0)
    progress.finish_failure(
        BuildFailed(
            name="app",
            reason="FailedMount",
            started=False,
            fix="create the secret <regcred>",
            events=[PodEvent("Warning", "FailedMount", "not found")],
        )
    )
    view = progress.final_view()
    assert "<strong>failed</strong> after 0.0 s" in view.html
    assert "fix: create the secret &lt;regcred&gt;" in view.html
    assert "<li>Warning FailedMount: not found</li>" in view.html
    assert "fix: create the secret <regcred>" in view.text
    assert repr(view) == progress.text()


def test_the_state_the_schedule_and_the_log_file_need_no_widgets() -> None:
    """What an event changes, when the widgets are written and where the full log goes are
    plain modules: they run (and can be tested) without ipywidgets."""
    code = (
        "import sys, threading, os\n"
        "from polymagic.notebook.progress_log import LogFile\n"
        "from polymagic.notebook.progress_state import State, take_event\n"
        "from polymagic.notebook.progress_updates import UpdateSchedule\n"
        "from polymagic.outcome.kaniko_log import KanikoLogParser\n"
        f"parser = KanikoLogParser({INSTRUCTIONS!r})\n"
        "state = State(total=3)\n"
        f"for line in {KANIKO_LOG[:4]!r}:\n"
        "    for event in parser.feed(line):\n"
        "        take_event(state, event)\n"
        "assert (state.phase, state.step, state.instruction) == ('building', 2, 'RUN echo <done>')\n"
        "now, flushed = [0.0], threading.Event()\n"
        "schedule = UpdateSchedule(10.0, 60.0, lambda: now[0], flushed.set, lambda: True)\n"
        "answers = [schedule.push_now() for _ in range(100)]\n"
        "assert answers == [True] + [False] * 99, answers\n"
        "assert not flushed.wait(0.2)\n"  # the timer waits out the interval
        "schedule.stop()\n"
        "log = LogFile('a/b c')\n"
        "log.write('one'); log.flush()\n"
        "assert open(log.path).read() == 'one\\n'\n"
        "log.delete(); assert not os.path.exists(log.path)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'IPython')))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
