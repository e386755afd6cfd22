"""Errors carry data: what a failed build knows travels as fields, its message is written from
them (``polymagic.errors``), and the terminal's lines and the widget's view are laid out from
the fields (``polymagic.outcome.text``), never read back from a message."""

from __future__ import annotations

import pytest

from polymagic.errors import (
    ApiError,
    BuildCancelled,
    BuildError,
    BuildFailed,
    BuildTimeout,
    FailedStep,
    NotFoundError,
    PodEvent,
    PolymagicError,
    PreflightError,
    SpecError,
    UsageError,
)
from polymagic.outcome.text import failure_lines, failure_view

STEP = FailedStep(6, 6, "RUN pip3 install -U polyaxon")
RUN_FAILED = BuildFailed(
    name="quick-start-1a2b",
    reason="Error",
    detail="error building image: error building stage: exit status 3",
    exit_code=3,
    failed_step=STEP,
    log_tail=tuple(f"line {n}" for n in range(40)),
)
STUCK = BuildFailed(
    name="quick-start-1a2b",
    reason="FailedMount",
    detail='MountVolume.SetUp failed: secret "regcred" not found',
    started=False,
    events=[
        PodEvent("Normal", "Scheduled", "assigned to node-1"),
        PodEvent("Warning", "FailedMount", 'secret "regcred" not found'),
    ],
    fix="secret `regcred` not found in namespace `ml`: create it",
)


def test_a_failed_run_carries_its_fields_and_says_them_in_one_sentence() -> None:
    error = RUN_FAILED
    assert (error.exit_code, error.failed_step, error.reason) == (3, STEP, "Error")
    assert str(error) == (
        "build `quick-start-1a2b` failed at step 6/6 (RUN pip3 install -U polyaxon): the"
        " executor exited with code 3 (Error): error building image: error building stage:"
        " exit status 3"
    )
    assert len(error.log_tail) == 40


def test_a_stuck_pod_says_why_and_the_fix_on_its_own_line() -> None:
    assert str(STUCK) == (
        "build `quick-start-1a2b` could not start: the pod is stuck in FailedMount"
        ' (MountVolume.SetUp failed: secret "regcred" not found)\n'
        "fix: secret `regcred` not found in namespace `ml`: create it"
    )
    assert [str(e) for e in STUCK.events][-1] == 'Warning FailedMount: secret "regcred" not found'


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            BuildFailed(name="b", reason=BuildFailed.POD_DELETED),
            "the build pod `b` was deleted by someone else before it finished",
        ),
        (BuildFailed(name="b", reason=BuildFailed.POD_NOT_FOUND), "the build pod `b` disappeared"),
        (
            BuildFailed(name="b", reason="DeadlineExceeded", exit_code=None),
            "build `b` failed: the pod ended (DeadlineExceeded) before the executor did",
        ),
        (
            BuildTimeout(name="b", deadline="log idle", limit=600),
            "build `b` hit the log idle deadline (600s)",
        ),
        (BuildCancelled(name="b"), "build `b` cancelled; its pod and ConfigMap were deleted"),
        (NotFoundError("b", "ml"), "no build named `b` in namespace `ml`"),
        (
            PreflightError.namespace_missing("ml"),
            "namespace `ml` does not exist\nfix: create it (`kubectl create namespace ml`) or"
            " choose another with --namespace",
        ),
    ],
    ids=["deleted", "vanished", "pod-ended", "timeout", "cancelled", "not-found", "namespace"],
)
def test_each_ending_has_its_sentence(error: PolymagicError, message: str) -> None:
    assert str(error) == message


def test_build_errors_take_keywords_only() -> None:
    with pytest.raises(TypeError):
        BuildFailed("a message")  # type: ignore[call-arg]


def test_usage_and_not_found_are_not_spec_errors() -> None:
    assert not issubclass(UsageError, SpecError)
    assert not issubclass(NotFoundError, SpecError)
    assert issubclass(NotFoundError, PolymagicError)
    assert issubclass(BuildTimeout, BuildError)


def test_the_command_line_lays_out_a_failed_run() -> None:
    lines = failure_lines(RUN_FAILED)
    assert lines[0] == f"polymagic: error: {RUN_FAILED.summary}"
    assert lines[1] == "polymagic: last log lines:"
    assert lines[2:] == [f"  line {n}" for n in range(25, 40)]  # the last 15


def test_the_command_line_lays_out_a_stuck_pod() -> None:
    assert failure_lines(STUCK) == [
        f"polymagic: error: {STUCK.summary}",
        "polymagic: fix: secret `regcred` not found in namespace `ml`: create it",
        "polymagic: events:",
        "  Normal Scheduled: assigned to node-1",
        '  Warning FailedMount: secret "regcred" not found',
    ]


def test_the_command_line_lays_out_a_preflight_refusal_and_a_cancel() -> None:
    forbidden = PreflightError.forbidden("ml", ["create pods", "get pods/log"])
    assert failure_lines(forbidden) == [
        "polymagic: error: you may not run builds in namespace `ml`: missing permission to"
        " create pods, get pods/log",
        "polymagic: fix: ask a cluster admin for a Role with these rules bound to your user or"
        " service account (`polymagic rbac` prints one)",
    ]
    assert failure_lines(BuildCancelled(name="b")) == [
        "polymagic: build `b` cancelled; its pod and ConfigMap were deleted"
    ]


def test_the_widget_view_of_a_cluster_error_takes_the_log_read_so_far() -> None:
    error = ApiError("watching Pod `b`: permission denied (403 Forbidden)", status=403)
    view = failure_view(error, log_tail=["one", "two"])
    assert (view.outcome, view.summary, view.fix) == ("failed", str(error), "")
    assert view.log_tail == ("one", "two")
    assert failure_view(RUN_FAILED, log_tail=["ignored"]).log_tail == RUN_FAILED.log_tail[-30:]


def test_text_from_the_cluster_is_made_safe_in_every_layout() -> None:
    hostile = "exit 3\x1b[2J\x1b]0;pwned\x07 \x9b31mdone"
    error = BuildFailed(
        name="b",
        reason="Error",
        exit_code=3,
        detail=hostile,
        events=[PodEvent("Warning", "Failed", hostile)],
        log_tail=(hostile,),
    )
    shown = "\n".join(failure_lines(error))
    view = failure_view(error)
    for text in (shown, view.reason, *view.events, *view.log_tail):
        assert "\x1b" not in text
        assert "\x9b" not in text
        assert "pwned" not in text
    assert "done" in shown
