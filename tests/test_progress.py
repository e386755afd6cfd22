"""The Kaniko log parser on real executor logs (``tests/fixtures/kaniko-logs/``), replayed line by
line as a followed build reads them: the image's push and not the cache layers', one
"retrieving base image" per image, cached steps, each step's duration, the error line."""

from __future__ import annotations

import re

import pytest

from polymagic.outcome.events import BuildStep, EventKind, ProgressEvent, build_steps, format_steps
from polymagic.outcome.kaniko_log import KanikoLogParser
from polymagic.outcome.log_progress import repository_of
from tests.fixtures.kaniko_logs import LOGS, CapturedLog, captured

EXIT_STATUS_3 = (
    "error building image: error building stage: failed to execute command:"
    " waiting for process to exit: exit status 3"
)
SEED_STEPS = [
    "ENV LC_ALL en_US.UTF-8",
    "ENV LANG en_US.UTF-8",
    "ENV LANGUAGE en_US.UTF-8",
    "ENV SHELL /bin/bash",
    "WORKDIR /code",
]
TICK = 0.01
"""Replays give line i the arrival time i * TICK: each log stays within the one second its
clock says ([0000] throughout: these builds took under a second)."""


def replay(log: CapturedLog, *, tick: float = TICK) -> tuple[KanikoLogParser, list[ProgressEvent]]:
    parser = log.parser()
    events: list[ProgressEvent] = []
    lines = log.lines()
    for number, line in enumerate(lines):
        events += parser.feed(line, at=number * tick)
    parser.finish(at=len(lines) * tick)
    return parser, events


def of(events: list[ProgressEvent], kind: EventKind) -> list[ProgressEvent]:
    return [e for e in events if e.kind is kind]


def digest_pushed(log: CapturedLog) -> str:
    """The image's digest, from the log's last `Pushed <destination>@...` line (by eye: the
    README's table; here: the first destination's repository)."""
    text = log.data.decode(errors="replace")
    found: list[str] = re.findall(
        rf"Pushed {re.escape(log.destinations[0])}@(sha256:[0-9a-f]{{64}})", text
    )
    return found[-1]


# -- pushes -----------------------------------------------------------------------------------


def test_cache_layer_pushes_are_not_the_image_push() -> None:
    log = captured("success-with-cache")
    parser, events = replay(log)
    # The log pushes two cache layers (`Pushing image to .../cache:<key>`, `Pushed .../cache@`)
    # before the image goes to its two destinations.
    assert log.data.count(b"/polyaxon-quick-start/cache@sha256:") == 2
    assert [e.message for e in of(events, EventKind.PUSHING)] == list(log.destinations)
    pushed = of(events, EventKind.PUSHED)
    digest = digest_pushed(log)
    assert [e.digest for e in pushed] == [digest, digest]
    assert all("/cache@" not in e.message for e in pushed)
    assert parser.digest == digest


@pytest.mark.parametrize("name", ["run-fails-exit-3", "killed"])
def test_a_build_that_pushed_only_cache_layers_pushed_no_image(name: str) -> None:
    # Both logs end after a cache layer's `Pushed ...@sha256:...` line: no image was pushed.
    log = captured(name)
    assert b"/cache@sha256:" in log.data or b"to cache now" in log.data
    parser, events = replay(log)
    assert of(events, EventKind.PUSHING) == []
    assert of(events, EventKind.PUSHED) == []
    assert parser.digest is None


def test_without_the_destinations_cache_pushes_are_still_told_apart() -> None:
    # `polymagic logs -f` of a pod without polymagic's annotations knows no destinations.
    log = captured("success-with-cache")
    parser = KanikoLogParser(log.instructions)
    events = [e for line in log.lines() for e in parser.feed(line)]
    assert len(of(events, EventKind.PUSHING)) == 2
    assert {e.digest for e in of(events, EventKind.PUSHED)} == {digest_pushed(log)}


@pytest.mark.parametrize(
    ("reference", "repository"),
    [
        ("127.0.0.1:5000/app/x:1", "127.0.0.1:5000/app/x"),
        ("127.0.0.1:5000/app/x@sha256:" + "a" * 64, "127.0.0.1:5000/app/x"),
        ("ubuntu", "index.docker.io/library/ubuntu"),
        ("docker.io/polyaxon/q:2", "index.docker.io/polyaxon/q"),
        ("index.docker.io/polyaxon/q", "index.docker.io/polyaxon/q"),
        ("localhost/app", "localhost/app"),
    ],
    ids=["port-tag", "digest", "hub-short", "hub-docker.io", "hub-index", "localhost"],
)
def test_repositories_are_named_as_go_containerregistry_prints_them(
    reference: str, repository: str
) -> None:
    assert repository_of(reference) == repository


# -- base images ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "images"),
    [
        ("success-with-cache", ["base/busybox:1"]),
        ("multi-stage", ["base/busybox:1"]),  # two stages, one base image
        ("manifest-unknown", ["base/nothing-here:9"]),  # asked twice, then the error
    ],
)
def test_one_retrieving_base_event_per_image(name: str, images: list[str]) -> None:
    log = captured(name)
    assert log.data.count(b"Retrieving image manifest") >= 2
    _, events = replay(log)
    retrieving = [e.message for e in of(events, EventKind.RETRIEVING_BASE)]
    assert retrieving == [f"{log.registry}/{image}" for image in images]


# -- steps, cached marks and durations --------------------------------------------------------


def test_every_step_is_reported_once_in_order_with_its_duration() -> None:
    log = captured("success-with-cache")
    parser, events = replay(log)
    steps = of(events, EventKind.STEP)
    names = [*SEED_STEPS, "RUN pip3 install --no-cache-dir -U polyaxon"]
    assert [(e.step, e.total, e.instruction) for e in steps] == [
        (n, 6, name) for n, name in enumerate(names, 1)
    ]
    assert [e.cached for e in steps] == [False] * 6
    summary = parser.summary()
    assert [(s.number, s.name, s.cached) for s in summary] == [
        (n, name, False) for n, name in enumerate(names, 1)
    ]
    # Arrival times (line i at i * TICK): a step lasts from its line to the next step's, and
    # the last one to the image push (cache pushes in between are part of the RUN step).
    lines = log.lines()
    starts = [next(i for i, line in enumerate(lines) if line.endswith(f"] {name:<44} ") or
                   line.rstrip().endswith(f"] {name}")) for name in names]  # fmt: skip
    push = next(
        i for i, line in enumerate(lines) if f"Pushing image to {log.destinations[0]} " in line
    )
    ends = [*starts[1:], push]
    assert [s.duration for s in summary] == [
        pytest.approx((end - start) * TICK) for start, end in zip(starts, ends, strict=True)
    ]


def test_cached_steps_carry_the_cached_mark() -> None:
    log = captured("cache-hits")
    assert b"Using caching version of cmd: RUN pip3 install" in log.data
    parser, events = replay(log)
    marks = {e.instruction: e.cached for e in of(events, EventKind.STEP)}
    assert marks == {
        **dict.fromkeys(SEED_STEPS[:4], False),  # ENV: metadata, never cached by Kaniko
        "WORKDIR /code": True,
        "RUN pip3 install --no-cache-dir -U polyaxon": True,
    }
    assert [s.cached for s in parser.summary()] == [False] * 4 + [True, True]
    assert of(events, EventKind.STEP)[-1].describe().endswith("(cached)")


def test_a_failed_run_ends_at_the_log_end_with_kanikos_error() -> None:
    log = captured("run-fails-exit-3")
    parser, _ = replay(log)
    assert parser.error_line == EXIT_STATUS_3
    assert (parser.step, parser.total) == (7, 7)
    summary = parser.summary()
    assert [s.name for s in summary][-2:] == ["RUN echo before the failure", "RUN exit 3"]
    lines = log.lines()
    started = next(i for i, line in enumerate(lines) if "] RUN exit 3" in line)
    assert summary[-1].duration == pytest.approx((len(lines) - started) * TICK)


def test_multi_stage_steps_skip_the_meta_arg_and_the_unbuilt_stage() -> None:
    log = captured("multi-stage")
    parser, events = replay(log)
    # `ARG GREETING=hello` before the first FROM only parameterises FROM lines: not a step.
    assert parser.steps == [
        "ARG GREETING",
        'RUN echo "$GREETING from the builder" > /greeting.txt',
        "COPY --from=builder /greeting.txt /greeting.txt",
        "RUN cat /greeting.txt",
        'RUN echo "this stage is past the target" > /debug.txt',
    ]
    assert [e.step for e in of(events, EventKind.STEP)] == [1, 2, 3, 4]
    assert [s.number for s in parser.summary()] == [1, 2, 3, 4]  # not the debug stage's
    assert parser.digest == digest_pushed(log)


def test_reproducible_builds_give_one_digest() -> None:
    first, second = (replay(captured(f"reproducible-{n}"))[0] for n in (1, 2))
    assert first.digest == second.digest == digest_pushed(captured("reproducible-1"))


def test_kanikos_clock_wins_over_arrival_times_that_cannot_be_right() -> None:
    # The success log with Kaniko's clock made to advance 3 s per step (the real one says
    # [0000] throughout: the build took under a second), read after the container ended:
    # every line arrives at once, so only the executor's clock can tell.
    log = captured("success-with-cache")
    names = [*SEED_STEPS, "RUN pip3 install --no-cache-dir -U polyaxon"]
    clock = 0
    lines = []
    for line in log.lines():
        image_push = f"Pushing image to {log.destinations[0]} " in line
        if image_push or any(line.rstrip().endswith(f"] {name}") for name in names):
            clock += 3
        lines.append(line.replace("[0000]", f"[{clock:04d}]"))
    parser = log.parser()
    for line in lines:
        parser.feed(line, at=100.0)
    parser.finish(at=100.0)
    assert [s.duration for s in parser.summary()] == [3.0] * 6


def test_arrival_times_within_the_clocks_second_are_kept() -> None:
    parser = KanikoLogParser(["FROM x", "RUN a", "RUN b"])
    parser.feed("\x1b[36mINFO\x1b[0m[0001] RUN a ", at=10.0)
    parser.feed("\x1b[36mINFO\x1b[0m[0002] RUN b ", at=10.4)  # 0.4 s: the clock says 0..2 s
    parser.feed("\x1b[36mINFO\x1b[0m[0002] Building stage 'y' [idx: '1'] ", at=10.45)
    assert [s.duration for s in parser.summary()] == [pytest.approx(0.4), pytest.approx(0.05)]


@pytest.mark.parametrize("name", LOGS)
def test_every_real_log_replays_without_a_stray_event(name: str) -> None:
    log = captured(name)
    parser, events = replay(log)
    lines = log.lines()
    assert len(of(events, EventKind.LOG)) == len(lines) == parser.lines
    for event in events:
        if event.kind is EventKind.STEP:
            assert event.instruction in parser.steps
    pushed = {e.digest for e in of(events, EventKind.PUSHED)}
    assert pushed == ({digest_pushed(log)} if log.exit_code == 0 else set())


def test_the_summary_reads_like_buildkits() -> None:
    steps = [
        BuildStep(number=1, total=2, name="ENV A b", duration=0.04, cached=False),
        BuildStep(number=2, total=2, name="RUN pip install " + "x" * 80, duration=12.34, cached=True),
        BuildStep(number=2, total=2, name="RUN sleep 600", duration=None, cached=False),
    ]  # fmt: skip
    assert format_steps(steps, width=20) == [
        "[1/2] ENV A b" + " " * 13 + " " + "  0.0s",
        "[2/2] RUN pip install xxx…" + " " + "CACHED",
        "[2/2] RUN sleep 600" + " " * 7 + " " + "     -",
    ]


def test_build_steps_are_the_instructions_after_the_first_from() -> None:
    assert build_steps(["ARG V=1", "FROM a:$V", "RUN x", "FROM b", "COPY --from=0 / /"]) == [
        "RUN x",
        "COPY --from=0 / /",
    ]
    assert build_steps(["RUN x"]) == ["RUN x"]  # a list without FROM, given by hand
