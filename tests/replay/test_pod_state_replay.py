"""The pod-state machine fed the real test cluster's recorded pods, events and log lines, with
no session around it: the stuck rule, the deadlines, the fixes and the outcome, moment by moment.

``_drive`` looks at the recorded pod at every moment something changed (a new pod version, a
new list of events) and every ``watch_timeout`` seconds in between, as a session does, and
stops at the first verdict; then reads the log and the terminated pod.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from polymagic.errors import BuildError, BuildFailed, BuildTimeout
from polymagic.outcome.events import EventKind, ProgressEvent
from polymagic.outcome.pod_reading import build_status, is_running, is_terminated, stuck_problem
from polymagic.outcome.pod_state import PodStateMachine, Pushed
from tests.replay.replay import _Timeline, submission_of
from tests.replay.tape import Tape

JsonDict = dict[str, Any]


@dataclass
class Drive:
    """What the machine said over one recorded build."""

    machine: PodStateMachine
    line: _Timeline
    events: list[ProgressEvent] = field(default_factory=list)
    verdict: BuildError | None = None
    verdict_at: float | None = None
    looked_at: list[float] = field(default_factory=list)
    """The moments the machine judged the pending pod (and said nothing)."""
    outcome: Pushed | BuildFailed | None = None


def _latest(items: list[tuple[float, Any]], now: float) -> Any:
    seen = [item for at, item in items if at <= now]
    return seen[-1] if seen else None


def _drive(scenario: str) -> Drive:
    tape = Tape.load(scenario)
    submission = submission_of(tape)
    line = _Timeline.of(tape)
    drive = Drive(PodStateMachine(submission.manifests, submission.options, started=0.0), line)
    step = float(submission.options.watch_timeout)
    changes = [(at, pod) for at, _, pod in line.changes]
    end = max([at for at, _ in changes] + [at for at, _ in line.events])
    moments = sorted({*(at for at, _ in changes), *(at for at, _ in line.events)})
    moments = sorted({*moments, *(step * i for i in range(1, int(end / step) + 2))})
    pod: JsonDict = changes[0][1]
    for now in moments:
        pod = _latest(changes, now) or pod
        drive.events += drive.machine.observe(pod)
        if is_running(pod) or is_terminated(pod):
            break
        verdict = drive.machine.pending(pod, _latest(line.events, now) or [], now)
        if verdict is not None:
            drive.verdict, drive.verdict_at = verdict, now
            return drive
        drive.looked_at.append(now)
    lines = [text for _, text in line.log]
    drive.events += drive.machine.log_lines(lines, [at for at, _ in line.log])
    drive.events += drive.machine.log_ended(line.log_complete or end)
    final = changes[-1][1]
    drive.events += drive.machine.observe(final)
    drive.outcome = drive.machine.outcome(final) if is_terminated(final) else None
    return drive


def test_success_is_the_pushed_digest_with_six_timed_steps() -> None:
    drive = _drive("success")
    kinds = [e.kind for e in drive.events]
    assert kinds[:3] == [EventKind.SCHEDULED, EventKind.PULLING_EXECUTOR, EventKind.STARTED]
    assert [e.step for e in drive.events if e.kind is EventKind.STEP] == [1, 2, 3, 4, 5, 6]
    assert isinstance(drive.outcome, Pushed)
    assert drive.outcome.image.endswith("@" + drive.outcome.digest)
    result = drive.machine.result(drive.outcome, 9.5, None, "size unknown")
    assert (result.duration, result.notes, len(result.steps)) == (9.5, ("size unknown",), 6)
    assert result.spec_hash == drive.machine.manifests.spec_hash != ""
    assert drive.machine.pushed_events(drive.outcome) == []  # the log announced the digest


def test_run_failure_is_the_exit_code_the_step_and_the_error_line() -> None:
    drive = _drive("run-fails")
    failed = drive.outcome
    assert isinstance(failed, BuildFailed)
    assert (failed.exit_code, failed.reason, failed.started) == (3, "Error", True)
    assert failed.detail.startswith("error building image: error building stage")
    assert failed.failed_step is not None
    assert failed.failed_step.instruction.startswith("RUN ")
    assert failed.log_tail == tuple(drive.machine.parser.tail)
    assert str(failed).startswith(f"build `{drive.machine.name}` failed at step ")
    assert "the executor exited with code 3 (Error): error building image" in str(failed)


@pytest.mark.parametrize(
    ("scenario", "group"),
    [
        ("image-pull-backoff", {"ErrImagePull", "ImagePullBackOff"}),
        ("missing-secret-mount", {"FailedMount"}),
        ("unschedulable", {"Unschedulable", "FailedScheduling"}),
    ],
    ids=["image-pull-backoff", "missing-secret-mount", "unschedulable"],
)
def test_a_stuck_pod_is_judged_after_the_grace_and_not_before(
    scenario: str, group: set[str]
) -> None:
    drive = _drive(scenario)
    verdict = drive.verdict
    assert isinstance(verdict, BuildFailed)
    assert verdict.reason in group
    assert verdict.started is False
    assert verdict.fix
    # The clock of the problem starts the first time it is seen, whatever the reason's
    # alternation (ErrImagePull / ImagePullBackOff), and the grace passes before the verdict.
    first = min(now for now in [*drive.looked_at, drive.verdict_at or 0.0] if _stuck_at(drive, now))
    grace = drive.machine.options.stuck_grace
    assert drive.verdict_at is not None
    assert grace <= drive.verdict_at - first < grace + drive.machine.options.watch_timeout


def _stuck_at(drive: Drive, now: float) -> bool:
    changes = [(at, pod) for at, _, pod in drive.line.changes]
    pod = _latest(changes, now) or changes[0][1]
    return stuck_problem(pod, _latest(drive.line.events, now) or []) is not None


def test_image_pull_reasons_alternate_on_one_clock() -> None:
    drive = _drive("image-pull-backoff")
    reasons = {
        pod["status"]["containerStatuses"][0]["state"].get("waiting", {}).get("reason")
        for _, _, pod in drive.line.changes
        if pod.get("status", {}).get("containerStatuses")
    }
    assert {"ErrImagePull", "ImagePullBackOff"} <= reasons  # the recording alternates
    assert isinstance(drive.verdict, BuildFailed)
    assert drive.verdict_at is not None
    assert drive.verdict_at < 3 + 2 * drive.machine.options.watch_timeout


def test_the_pod_start_deadline_comes_at_its_time_and_not_before() -> None:
    drive = _drive("start-deadline")
    assert isinstance(drive.verdict, BuildTimeout)
    assert (drive.verdict.deadline, drive.verdict.limit) == ("pod start", 4)
    assert drive.verdict_at is not None
    assert drive.verdict_at > 4
    assert all(now <= 4 for now in drive.looked_at)


def test_a_slow_pull_is_not_stuck() -> None:
    drive = _drive("slow-start")
    assert drive.verdict is None
    assert max(drive.looked_at) > drive.machine.options.stuck_grace
    assert isinstance(drive.outcome, Pushed)


def test_an_invalid_image_name_is_judged_at_once() -> None:
    drive = _drive("image-pull-backoff")
    pod = next(p for _, _, p in drive.line.changes if stuck_problem(p, []))
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    invalid = {**waiting, "reason": "InvalidImageName", "message": "couldn't parse image"}
    status = {**pod["status"]["containerStatuses"][0], "state": {"waiting": invalid}}
    broken = {**pod, "status": {**pod["status"], "containerStatuses": [status]}}
    machine = PodStateMachine(drive.machine.manifests, drive.machine.options, started=0.0)
    verdict = machine.pending(broken, [], 1.0)
    assert isinstance(verdict, BuildFailed)
    assert verdict.reason == "InvalidImageName"
    assert "cannot be pulled" in verdict.fix


def test_each_phase_is_announced_once() -> None:
    drive = _drive("success")
    again = PodStateMachine(drive.machine.manifests, drive.machine.options, started=0.0)
    announced = [again.observe(pod) for _, _, pod in drive.line.changes * 2]
    kinds = [e.kind for events in announced for e in events]
    assert kinds == [EventKind.SCHEDULED, EventKind.PULLING_EXECUTOR, EventKind.STARTED]


def test_the_log_read_across_an_api_restart_has_each_step_once() -> None:
    drive = _drive("api-restart")
    assert [e.step for e in drive.events if e.kind is EventKind.STEP] == [1, 2, 3, 4, 5, 6]
    assert isinstance(drive.outcome, Pushed)


def test_a_cancel_carries_the_log_read_so_far() -> None:
    drive = _drive("cancel")
    cancelled = drive.machine.cancelled()
    assert cancelled.log_tail == tuple(drive.machine.parser.tail)
    assert cancelled.log_tail
    assert (
        str(cancelled)
        == f"build `{drive.machine.name}` cancelled; its pod and ConfigMap were deleted"
    )


def test_the_overall_and_log_idle_deadlines() -> None:
    drive = _drive("success")
    options = replace(drive.machine.options, timeout=10, log_idle_timeout=2)
    machine = PodStateMachine(drive.machine.manifests, options, started=1.0)
    assert machine.overall(11.0) is None
    late = machine.overall(11.5)
    assert isinstance(late, BuildTimeout)
    assert (late.deadline, late.limit, late.reason) == ("overall", 10, "DeadlineExceeded")
    assert machine.log_idle(5.0, 3.0) is None
    idle = machine.log_idle(5.5, 3.0)
    assert isinstance(idle, BuildTimeout)
    assert idle.deadline == "log idle"


def test_build_status_reads_the_recorded_pods() -> None:
    drive = _drive("success")
    final = drive.line.changes[-1][2]
    status = build_status(final)
    assert (status.phase, status.detail) == ("Succeeded", "exit code 0")
    assert isinstance(drive.outcome, Pushed)
    assert status.digest == drive.outcome.digest
    assert status.destinations == drive.machine.manifests.destinations
