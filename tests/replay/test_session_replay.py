"""The build session replayed from the real test cluster's recorded traffic: every outcome the
cluster tests (``tests/test_build_cluster.py``) reach, in milliseconds and without a cluster.

Each test follows a ``BuildSession`` (or runs ``start_build``) on a ``ReplayCluster`` and a
virtual clock, and checks what the cluster test checks, plus what only a replay can check
exactly: when the verdict came, and which calls the session made.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from polymagic.errors import BuildCancelled, BuildFailed, BuildTimeout, PreflightError
from polymagic.kube.api import Cluster
from polymagic.kube.session import BuildSession, start_build
from polymagic.outcome.events import EventKind, ProgressEvent
from polymagic.render.compiler import CompiledBuild, compile_operation
from polymagic.spec.loader import load_connections
from tests.data import SEED
from tests.replay.replay import (
    NoRegistry,
    ReplayCluster,
    VirtualClock,
    options_of,
    submission_of,
)
from tests.replay.tape import Tape

CATALOG: list[dict[str, Any]] = [
    {
        "name": "docker-connection",
        "kind": "registry",
        "schema": {"url": "registry.example.com/org"},
        "secret": {"name": "regcred", "mountPath": "/kaniko/.docker"},
    }
]


def _build(catalog: list[dict[str, Any]] = CATALOG, seed: str = SEED) -> CompiledBuild:
    return compile_operation(seed, connections=load_connections(catalog))


class Replay:
    """One scenario's tape on a fresh virtual clock."""

    def __init__(self, scenario: str) -> None:
        self.tape = Tape.load(scenario)
        self.clock = VirtualClock()
        self.cluster = ReplayCluster(self.tape, self.clock)

    def session(self) -> BuildSession:
        """The recorded submission, followed again."""
        return BuildSession(
            self.cluster, submission_of(self.tape), registry=NoRegistry(), clock=self.clock
        )

    def follow(
        self, session: BuildSession, on_event: Callable[[ProgressEvent], None] | None = None
    ) -> list[ProgressEvent]:
        """Every event until the end; the session's error, if any, is kept in ``error``."""
        seen: list[ProgressEvent] = []
        try:
            for event in session.events():
                seen.append(event)
                if on_event is not None:
                    on_event(event)
        except (BuildFailed, BuildTimeout, BuildCancelled):
            pass
        return seen

    def recorded_end(self) -> float:
        """When the live session deleted its pod: how long it took to reach its verdict."""
        return self.tape.of("delete_pod")[0].at


def _kinds(events: list[ProgressEvent]) -> list[EventKind]:
    return [e.kind for e in events]


def _steps(events: list[ProgressEvent]) -> list[tuple[int | None, int | None]]:
    return [(e.step, e.total) for e in events if e.kind is EventKind.STEP]


def _digest_of(tape: Tape) -> str:
    """The digest in the terminated pod's termination message, as the cluster recorded it."""
    for call in reversed(tape.of("watch_pod")):
        for _, _, pod in reversed(call.items):
            for status in pod.get("status", {}).get("containerStatuses") or []:
                message = (status.get("state", {}).get("terminated") or {}).get("message")
                if message:
                    return str(message).strip().split()[-1]
    raise AssertionError("no terminated pod in the tape")


@pytest.fixture
def success() -> Replay:
    return Replay("success")


def test_success_reports_the_steps_and_the_digest(success: Replay) -> None:
    session = success.session()
    events = success.follow(session)
    assert _kinds(events)[-1] is EventKind.SUCCEEDED
    assert EventKind.SCHEDULED in _kinds(events)
    assert _steps(events) == [(i, 6) for i in range(1, 7)]
    assert session.result is not None
    assert session.result.digest == _digest_of(success.tape)
    assert session.result.image.startswith("registry.example.com/org/polyaxon/")
    assert session.result.notes == ("the image's size is unknown: no registry answers in a replay",)
    assert success.cluster.deleted_at is not None  # cleaned up


def test_run_failure_carries_the_exit_code_the_step_and_the_tail() -> None:
    replay = Replay("run-fails")
    session = replay.session()
    events = replay.follow(session)
    assert _kinds(events)[-1] is EventKind.FAILED
    error = session.error
    assert isinstance(error, BuildFailed)
    assert error.exit_code == 3
    assert error.reason == "Error"
    assert "error building stage" in error.detail
    assert error.failed_step is not None
    assert error.failed_step.instruction == session.parser.steps[error.failed_step.number - 1]
    assert error.log_tail[-1] == session.parser.tail[-1]
    assert error.fix == ""  # not a registry's answer
    assert replay.cluster.deleted_at is not None


@pytest.mark.parametrize(
    ("scenario", "reasons", "fix"),
    [
        ("image-pull-backoff", {"ErrImagePull", "ImagePullBackOff"}, "cannot be pulled"),
        ("missing-secret-mount", {"FailedMount"}, "secret `regcred` not found in namespace"),
        ("unschedulable", {"Unschedulable", "FailedScheduling"}, "no node can run the build pod"),
    ],
    ids=["image-pull-backoff", "missing-secret-mount", "unschedulable"],
)
def test_a_stuck_pod_fails_after_the_grace_with_a_fix(
    scenario: str, reasons: set[str], fix: str
) -> None:
    replay = Replay(scenario)
    session = replay.session()
    events = replay.follow(session)
    error = session.error
    assert isinstance(error, BuildFailed)
    assert _kinds(events)[-1] is EventKind.FAILED
    assert (error.reason in reasons, error.started, error.exit_code) == (True, False, None)
    assert fix in error.fix
    assert error.events  # the pod's last events travel with the error
    # The verdict comes after the 3 s grace, when it came live give or take one look (while
    # nothing changes the session looks once per watch timeout, live and replayed alike).
    assert replay.clock.now() >= session.options.stuck_grace
    assert abs(replay.clock.now() - replay.recorded_end()) <= session.options.watch_timeout


def test_a_missing_secret_mount_quotes_the_failed_mount_event() -> None:
    replay = Replay("missing-secret-mount")
    session = replay.session()
    replay.follow(session)
    assert isinstance(session.error, BuildFailed)
    mounts = [e for e in session.error.events if e.reason == "FailedMount"]
    assert mounts
    assert 'secret "regcred" not found' in mounts[-1].message


def test_the_pod_start_deadline_is_named() -> None:
    replay = Replay("start-deadline")
    session = replay.session()
    events = replay.follow(session)
    error = session.error
    assert isinstance(error, BuildTimeout)
    assert (error.deadline, error.limit) == ("pod start", 4)
    assert str(error) == f"build `{session.name}` hit the pod start deadline (4s)"
    assert _kinds(events)[-1] is EventKind.FAILED
    assert 4 <= replay.clock.now() < 4 + session.options.watch_timeout + 1


def test_cancel_mid_build_deletes_the_pod_and_ends_cancelled() -> None:
    replay = Replay("cancel")
    session = replay.session()

    def cancel_at_step_3(event: ProgressEvent) -> None:
        if event.kind is EventKind.STEP and event.step == 3:
            session.cancel()

    events = replay.follow(session, cancel_at_step_3)
    assert _kinds(events)[-1] is EventKind.CANCELLED
    assert isinstance(session.error, BuildCancelled)
    assert replay.cluster.deleted_at is not None
    assert max(step or 0 for step, _ in _steps(events)) <= 4


def test_watch_expiry_resumes_from_the_present_and_keeps_the_outcome() -> None:
    replay = Replay("watch-expiry")
    session = replay.session()
    events = replay.follow(session)
    assert _kinds(events)[-1] is EventKind.SUCCEEDED
    assert replay.cluster.replayed.count("WatchExpired") >= 1
    # After each 410 the watch starts from the present, not from the pod's own version (which
    # the server refuses again while the pod does not change: a tight loop of 410s).
    asked = replay.cluster.watched_from
    assert asked.count(None) >= replay.cluster.replayed.count("WatchExpired")
    assert session.result is not None
    assert session.result.digest == _digest_of(replay.tape)


def test_an_api_server_restart_loses_and_repeats_no_step() -> None:
    replay = Replay("api-restart")
    session = replay.session()
    events = replay.follow(session)
    assert "ClusterError" in replay.cluster.replayed  # the log stream dropped, as recorded
    assert _kinds(events)[-1] is EventKind.SUCCEEDED
    assert _steps(events) == [(i, 6) for i in range(1, 7)]
    # Each line of the log was read once: none lost, none read again after the reconnect.
    assert session.parser.lines == len(replay.cluster.line.log)


def test_a_slow_start_is_not_stuck() -> None:
    replay = Replay("slow-start")
    session = replay.session()
    events = replay.follow(session)
    assert _kinds(events)[-1] is EventKind.SUCCEEDED
    assert replay.clock.now() > 4  # the pull took 4 s, more than the 3 s grace


@pytest.mark.parametrize(
    ("scenario", "reason", "words"),
    [
        ("missing-secret-preflight", "SecretNotFound", "secret `regcred` not found in namespace"),
        ("forbidden", "Forbidden", "missing permission to create pods"),
    ],
    ids=["missing-secret", "forbidden"],
)
def test_preflight_stops_before_anything_is_created(scenario: str, reason: str, words: str) -> None:
    replay = Replay(scenario)
    with pytest.raises(PreflightError) as caught:
        start_build(
            replay.cluster,
            _build(),
            options_of(replay.tape),
            registry=NoRegistry(),
            clock=replay.clock,
        )
    assert caught.value.reason == reason
    assert words in caught.value.summary
    assert caught.value.fix
    assert replay.tape.of("create_pod") == []


def test_start_build_replays_the_whole_submission(success: Replay) -> None:
    session = start_build(
        success.cluster,
        _build(),
        options_of(success.tape),
        registry=NoRegistry(),
        clock=success.clock,
    )
    events = success.follow(session)
    assert _kinds(events)[-1] is EventKind.SUCCEEDED
    assert session.result is not None
    assert session.result.digest == _digest_of(success.tape)
    assert session.result.duration == pytest.approx(success.clock.now(), abs=1e-6)


def test_rendering_warnings_reach_the_user_as_the_first_events(
    success: Replay, tmp_path: Path
) -> None:
    """``build_manifests``' warnings (a scheme removed from the registry URL, secrets left out
    of the build context) arrive as WARNING progress events before anything else."""
    catalog = [dict(CATALOG[0], schema={"url": "https://registry.example.com/org"})]
    op = yaml.safe_load(SEED)
    op["runPatch"]["init"][0]["dockerfile"]["copy"] = ["src"]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('hi')\n")
    (tmp_path / "src" / ".env").write_text("TOKEN=x\n")
    options = options_of(success.tape, context_dir=tmp_path)
    cluster: Cluster = success.cluster
    session = start_build(
        cluster,
        _build(catalog, yaml.safe_dump(op)),
        options,
        registry=NoRegistry(),
        clock=success.clock,
    )
    events = success.follow(session)
    warnings = [e.message for e in events if e.kind is EventKind.WARNING]
    assert events[0].kind is EventKind.WARNING
    assert any("http(s):// scheme" in w for w in warnings)
    assert any("left out of the build context" in w and "`src/.env`" in w for w in warnings)
    assert _kinds(events)[-1] is EventKind.SUCCEEDED
