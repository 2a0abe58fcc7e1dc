"""The workflow state machine without I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from preflog_contracts.errors import Invalid
from preflog_contracts.events.review import LabelApproved, LabelRejected, TaskStatusChanged
from preflog_contracts.rpc.review import in_consensus_coverage, required_label_count
from preflog_review.domain.workflow import (
    REVIEWABLE_STATUSES,
    ProjectRules,
    SubmittedLabel,
    WorkflowState,
    approve,
    fold_workflow,
    label_review_state,
    on_label_submitted,
    on_task_requeued,
    on_task_skipped,
    reject,
    requeue_rework,
)

REVIEW = ProjectRules(review_required=True, required_labels=1)


def state(status: str = "TO_LABEL", **decisions: tuple[str, int]) -> WorkflowState:
    events = []
    position = 0
    if status != "TO_LABEL":
        events.append(
            (
                TaskStatusChanged(
                    task_id="t", project_id="p", from_status="TO_LABEL", to_status=status
                ),
                0,
                10,
            )
        )
        position = 1
    for label_id, (kind, global_position) in decisions.items():
        cls = LabelApproved if kind == "APPROVED" else LabelRejected
        extra = {"reason": "r"} if cls is LabelRejected else {}
        events.append(
            (
                cls(label_id=label_id, task_id="t", project_id="p", **extra),
                position,
                global_position,
            )
        )
        position += 1
    return fold_workflow("t", "p", events)


def test_submit_moves_to_review_or_done() -> None:
    labels = [SubmittedLabel("a", 5)]
    [moved] = on_label_submitted(state(), REVIEW, labels, "a")
    assert isinstance(moved, TaskStatusChanged) and moved.to_status == "IN_REVIEW"
    [done] = on_label_submitted(
        state(), ProjectRules(review_required=False, required_labels=1), labels, "a"
    )
    assert isinstance(done, TaskStatusChanged) and done.to_status == "DONE"
    # Without review a consensus task still waits for its labels.
    unreviewed = ProjectRules(review_required=False, required_labels=2)
    assert on_label_submitted(state(), unreviewed, labels, "a") == []
    [done] = on_label_submitted(state(), unreviewed, [*labels, SubmittedLabel("b", 6)], "b")
    assert isinstance(done, TaskStatusChanged) and done.to_status == "DONE"
    assert on_label_submitted(state("DONE"), REVIEW, labels, "a") == []
    assert on_label_submitted(state("SKIPPED"), REVIEW, labels, "a") == []


def test_consensus_waits_for_the_required_number_of_counting_labels() -> None:
    rules = ProjectRules(review_required=True, required_labels=2)
    assert on_label_submitted(state(), rules, [SubmittedLabel("a", 5)], "a") == []
    # b was rejected after its submission: it does not count.
    rejected = state(b=("REJECTED", 9))
    assert (
        on_label_submitted(rejected, rules, [SubmittedLabel("a", 5), SubmittedLabel("b", 7)], "a")
        == []
    )
    # b resubmitted after the rejection counts again.
    [moved] = on_label_submitted(
        rejected, rules, [SubmittedLabel("a", 5), SubmittedLabel("b", 11)], "b"
    )
    assert isinstance(moved, TaskStatusChanged) and moved.to_status == "IN_REVIEW"


def test_approve_and_reject() -> None:
    labels = [SubmittedLabel("a", 5)]
    approved = approve(state("IN_REVIEW"), labels, "a", "fine")
    assert [type(e).__name__ for e in approved] == ["LabelApproved", "TaskStatusChanged"]
    assert approved[1].to_status == "DONE"  # type: ignore[attr-defined]
    rejected = reject(state("IN_REVIEW"), labels, "a", "wrong crown")
    assert rejected[1].to_status == "IN_REWORK" and rejected[1].reason == "wrong crown"  # type: ignore[attr-defined]


def test_approve_keeps_review_open_while_other_labels_wait() -> None:
    labels = [SubmittedLabel("a", 5), SubmittedLabel("b", 6)]
    assert [type(e).__name__ for e in approve(state("IN_REVIEW"), labels, "a", "")] == [
        "LabelApproved"
    ]


@pytest.mark.parametrize("decided", ["APPROVED", "REJECTED"])
def test_a_decided_label_cannot_be_decided_again(decided: str) -> None:
    s = state("IN_REVIEW", a=(decided, 9))
    with pytest.raises(Invalid):
        approve(s, [SubmittedLabel("a", 5)], "a", "")
    with pytest.raises(Invalid):
        reject(s, [SubmittedLabel("a", 5)], "a", "no")


@pytest.mark.parametrize("status", ["TO_LABEL", "SKIPPED"])
def test_a_task_not_in_review_has_its_labels_decided_by_nobody(status: str) -> None:
    for decide in (approve, reject):
        with pytest.raises(Invalid) as info:
            decide(state(status), [SubmittedLabel("a", 5)], "a", "r")
        assert "not in review" in info.value.fields["labelId"]


def test_refusals() -> None:
    with pytest.raises(Invalid):
        approve(state("IN_REVIEW"), [], "a", "")  # never submitted
    with pytest.raises(Invalid) as info:
        reject(state("IN_REVIEW"), [SubmittedLabel("a", 5)], "a", "   ")
    assert info.value.fields == {"reason": "required"}


def test_skip_and_requeue() -> None:
    [skipped] = on_task_skipped(state("IN_REWORK"), "too long")
    assert skipped.to_status == "SKIPPED"  # type: ignore[attr-defined]
    assert on_task_skipped(state("DONE"), "") == []
    [back] = on_task_requeued(state("SKIPPED"))
    assert back.to_status == "TO_LABEL"  # type: ignore[attr-defined]
    assert on_task_requeued(state()) == []


def test_a_task_in_rework_is_requeued_with_its_rejected_labels_dropped_for_good() -> None:
    rules = ProjectRules(review_required=True, required_labels=2)
    rework = state("IN_REWORK", a=("REJECTED", 9), b=("APPROVED", 10))
    labels = [SubmittedLabel("a", 5), SubmittedLabel("b", 6)]
    back = requeue_rework(rework, labels)
    assert (back.from_status, back.to_status) == ("IN_REWORK", "TO_LABEL")
    assert back.dropped_label_ids == ["a"]  # b was approved: it keeps counting
    after = fold_workflow(
        "t",
        "p",
        [
            (
                TaskStatusChanged(
                    task_id="t", project_id="p", from_status="TO_LABEL", to_status="IN_REWORK"
                ),
                0,
                10,
            ),
            (LabelRejected(label_id="a", task_id="t", project_id="p", reason="r"), 1, 11),
            (back, 2, 12),
        ],
    )
    assert after.status == "TO_LABEL" and after.dropped == {"a"}
    # A resubmission of the dropped label, however late in the log, neither counts nor
    # may be decided; a new annotator's label fills its place.
    late = [SubmittedLabel("a", 20), SubmittedLabel("b", 6)]
    assert label_review_state(after, late[0]) == "REJECTED"
    assert on_label_submitted(after, rules, late, "a") == []
    with pytest.raises(Invalid):
        approve(after, late, "a", "")
    [moved] = on_label_submitted(after, rules, [*late, SubmittedLabel("c", 21)], "c")
    assert isinstance(moved, TaskStatusChanged) and moved.to_status == "IN_REVIEW"


@pytest.mark.parametrize("status", ["TO_LABEL", "IN_REVIEW", "DONE", "SKIPPED"])
def test_only_a_task_in_rework_is_requeued_from_rework(status: str) -> None:
    with pytest.raises(Invalid) as info:
        requeue_rework(state(status), [SubmittedLabel("a", 5)])
    assert "not in rework" in info.value.fields["taskId"]


@given(st.lists(st.sampled_from(["submit", "approve", "reject", "skip", "requeue"]), max_size=30))
def test_every_emitted_transition_starts_from_the_current_status(commands: list[str]) -> None:
    """Folding what the commands emit always chains: each change starts where the last ended."""
    events: list[tuple[object, int, int]] = []
    position = 10
    submitted = SubmittedLabel("a", 0)
    for command in commands:
        s = fold_workflow("t", "p", events)  # type: ignore[arg-type]
        position += 1
        try:
            if command == "submit":
                submitted = SubmittedLabel("a", position)
                emitted = on_label_submitted(s, REVIEW, [submitted], "a")
            elif command == "approve":
                emitted = approve(s, [submitted] if submitted.submitted_position else [], "a", "")
            elif command == "reject":
                emitted = reject(s, [submitted] if submitted.submitted_position else [], "a", "r")
            elif command == "skip":
                emitted = on_task_skipped(s, "")
            else:
                emitted = on_task_requeued(s)
        except Invalid:
            assert command in ("approve", "reject")
            assert (
                not submitted.submitted_position
                or label_review_state(s, submitted) != "SUBMITTED"
                or s.status not in REVIEWABLE_STATUSES
            )
            continue
        for event in emitted:
            if isinstance(event, TaskStatusChanged):
                assert event.from_status == s.status != event.to_status
            position += 1
            events.append((event, len(events), position))


def test_consensus_coverage_rule_is_deterministic_and_close_to_the_fraction() -> None:
    ids = [f"task-{i}" for i in range(4000)]
    covered = sum(in_consensus_coverage(i, 0.25) for i in ids)
    assert 850 < covered < 1150
    assert all(in_consensus_coverage(i, 1.0) for i in ids[:50])
    assert not any(in_consensus_coverage(i, 0.0) for i in ids[:50])
    assert required_label_count("x", "BENCHMARK", 3, 1.0) == 1
    assert required_label_count("x", "CONSENSUS", 3, 1.0) == 3
    assert required_label_count("x", "CONSENSUS", 3, 0.0) == 1
    for i in ids[:200]:
        expected = 3 if in_consensus_coverage(i, 0.5) else 1
        assert required_label_count(i, "CONSENSUS", 3, 0.5) == expected
