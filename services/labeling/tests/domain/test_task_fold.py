"""Review's status changes in the task's fold: a reaction to an own event labeling has moved
past since is ignored; the reaction to the latest one, and review's own decisions, count."""

from __future__ import annotations

from datetime import UTC, datetime

from preflog_contracts.envelope import Metadata
from preflog_contracts.events.labels import TaskRequeued, TaskSkipped
from preflog_contracts.events.review import TaskStatusChanged
from preflog_labeling.domain.task import TaskState, evolve, stale_echo

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _changed(before: str, after: str) -> TaskStatusChanged:
    return TaskStatusChanged(task_id="t", project_id="p", from_status=before, to_status=after)


def _reaction(cause: str) -> Metadata:
    return Metadata(actor_id="system", actor_role="SYSTEM", causation_id=cause)


def test_a_reaction_counts_only_for_the_latest_own_event() -> None:
    state = evolve(TaskState(task_id="t"), TaskSkipped(task_id="t", project_id="p", user_id="a"), NOW, event_id="s")
    state = evolve(state, TaskRequeued(task_id="t", project_id="p"), NOW, event_id="r")
    assert (state.status, state.status_cause) == ("TO_LABEL", "r")
    assert stale_echo(state.status_cause, _reaction("s")) and not stale_echo(state.status_cause, _reaction("r"))
    late = evolve(state, _changed("TO_LABEL", "SKIPPED"), NOW, metadata=_reaction("s"))
    assert late.status == "TO_LABEL"
    current = evolve(state, _changed("SKIPPED", "TO_LABEL"), NOW, metadata=_reaction("r"))
    assert current.status == "TO_LABEL"
    # A reviewer's or a manager's decision is no reaction: it always counts.
    reviewer = Metadata(actor_id="rev", actor_role="REVIEWER", causation_id="s")
    assert evolve(state, _changed("TO_LABEL", "IN_REWORK"), NOW, metadata=reviewer).status == "IN_REWORK"
    # Before any own event (or without metadata) a reaction applies as it always did.
    fresh = TaskState(task_id="t")
    assert evolve(fresh, _changed("TO_LABEL", "SKIPPED"), NOW, metadata=_reaction("x")).status == "SKIPPED"
    assert evolve(state, _changed("TO_LABEL", "SKIPPED"), NOW).status == "SKIPPED"
