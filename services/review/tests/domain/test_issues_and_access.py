"""Issue state machine and role checks without I/O."""

from __future__ import annotations

import pytest

from preflog_contracts.errors import Forbidden, Invalid
from preflog_contracts.events.review import IssueOpened, IssueResolved
from preflog_review.domain import access, issues


def test_resolve_once_only() -> None:
    opened = IssueOpened(issue_id="i", project_id="p", task_id="t", body="b")
    state = issues.fold_issue("i", [(opened, 0)])
    assert state.status == "OPEN" and state.version == 0
    [resolved] = issues.resolve(state, "fixed")
    state = issues.fold_issue("i", [(opened, 0), (resolved, 1)])
    assert isinstance(resolved, IssueResolved) and state.status == "RESOLVED"
    with pytest.raises(Invalid):
        issues.resolve(state, "again")
    with pytest.raises(Invalid):
        issues.comment(state, "c", " ")
    assert len(issues.comment(state, "c", "still relevant")) == 1


@pytest.mark.parametrize(
    ("role", "admin", "review", "quality", "report"),
    [
        ("ANNOTATOR", False, False, False, True),
        ("REVIEWER", False, True, True, True),
        ("MANAGER", False, True, True, True),
        ("OWNER", False, True, True, True),
        (None, True, False, True, False),
        (None, False, False, False, False),
    ],
)
def test_role_matrix(
    role: str | None, admin: bool, review: bool, quality: bool, report: bool
) -> None:
    assert access.can_review(role) is review
    assert access.can_see_quality(role, admin) is quality
    assert access.can_report(role) is report
    with pytest.raises(Forbidden):
        access.require(False, "x")
