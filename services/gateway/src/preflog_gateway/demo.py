"""A small sample project a new user can click through (``preflog demo``, and the first start
on an empty database when ``settings.load_demo``).

Everything goes through the same service calls the API makes, as the org admin and as demo
users, so the demo's events are ordinary events: a dataset of the sample conversations, a
CONSENSUS project with the Dataloop feedback questions, two annotators' labels, and one task
approved by a reviewer.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeVar

from preflog_contracts.errors import Conflict, Invalid, NotFound, Unavailable
from preflog_contracts.events.labels import Target
from preflog_contracts.identity import Identity
from preflog_contracts.rpc import ingest
from preflog_contracts.rpc import labeling as lab
from preflog_contracts.rpc import review as rev
from preflog_gateway.accounts.handlers import Accounts
from preflog_gateway.accounts.records import UserRecord
from preflog_messaging.rpc import CallContext
from preflog_messaging.runtime import Runtime

DATASET_NAME = "Demo conversations"
PROJECT_NAME = "Demo: which answer is better?"
KEY_PREFIX = "demo-"
DEMO_USERS = (
    ("annotator1@demo.preflog.local", "Ada (demo annotator)", "ANNOTATOR"),
    ("annotator2@demo.preflog.local", "Grace (demo annotator)", "ANNOTATOR"),
    ("reviewer@demo.preflog.local", "Rosalind (demo reviewer)", "REVIEWER"),
)
# How long to wait for one service to learn another's events (consumers run asynchronously).
SETTLE_SECONDS = 60.0
T = TypeVar("T")


@dataclass
class DemoSummary:
    """What was loaded (``already_loaded``: the dataset existed, nothing was added)."""

    dataset_id: str = ""
    data_rows: int = 0
    project_id: str = ""
    users: list[str] = field(default_factory=list)
    labels_submitted: int = 0
    approved_task_id: str | None = None
    already_loaded: bool = False

    def lines(self) -> list[str]:
        if self.already_loaded:
            return [f"Demo data is already loaded (dataset {DATASET_NAME!r} {self.dataset_id})."]
        lines = [
            f"Demo dataset {DATASET_NAME!r} ({self.dataset_id}): {self.data_rows} conversations.",
            f"Demo project {PROJECT_NAME!r} ({self.project_id}): CONSENSUS, 2 labels per task,"
            " the Dataloop feedback questions.",
            f"Demo users: {', '.join(self.users)} (tokens: preflog token create --user EMAIL).",
            f"{self.labels_submitted} labels submitted; approved task: {self.approved_task_id}.",
        ]
        return lines


def demo_file(name: str) -> Any:
    """A vendored sample file (see ``demo_data/README.md`` for where each comes from)."""
    return json.loads(resources.files("preflog_gateway.demo_data").joinpath(name).read_text())


def demo_rows() -> list[dict[str, Any]]:
    """Labelbox import-file rows, under global keys prefixed ``demo-``."""
    rows = [
        {**row, "global_key": KEY_PREFIX + row["global_key"]}
        for row in demo_file("import_file_inline.json")
    ]
    rows.append({"row_data": demo_file("v1_image.json"), "global_key": KEY_PREFIX + "image-1"})
    rows.append(
        {"row_data": demo_file("v2_model_chat.json"), "global_key": KEY_PREFIX + "model-chat-1"}
    )
    return rows


def identity_of(user: UserRecord) -> Identity:
    return Identity(
        user_id=user.user_id,
        org_id=user.org_id,
        org_role=user.org_role,
        is_operator=user.is_operator,
        email=user.email,
        name=user.name,
    )


class DemoLoader:
    """Loads the demo into the org of ``admin`` (an org ADMIN)."""

    def __init__(self, runtime: Runtime, accounts: Accounts, admin: Identity) -> None:
        self.runtime = runtime
        self.accounts = accounts
        self.admin = admin

    async def call(
        self,
        who: Identity,
        service: str,
        op: str,
        body: Any,
        response_type: type[T],
    ) -> T:
        ctx = CallContext(identity=who, user_agent="preflog-demo")
        return await self.runtime.rpc.call(service, op, body, ctx=ctx, response_type=response_type)

    async def load(self) -> DemoSummary:
        """Load the demo once: if the demo dataset exists, report that and add nothing.

        Raises Unavailable when a service does not answer (the services must be running).
        """
        found = await self.call(
            self.admin,
            "ingest",
            "list_datasets",
            ingest.ListDatasetsRequest(name=DATASET_NAME),
            list[ingest.DatasetView],
        )
        if found:
            return DemoSummary(dataset_id=found[0].id, already_loaded=True)
        summary = DemoSummary()
        dataset = await self.call(
            self.admin,
            "ingest",
            "create_dataset",
            ingest.CreateDatasetRequest(
                name=DATASET_NAME, description="Sample conversations from the Labelbox formats"
            ),
            ingest.DatasetView,
        )
        summary.dataset_id = dataset.id
        imported = await self.call(
            self.admin,
            "ingest",
            "import_rows",
            ingest.ImportRowsRequest(dataset_id=dataset.id, rows=demo_rows()),
            ingest.ImportResult,
        )
        summary.data_rows = imported.accepted + imported.duplicates
        project = await self._project()
        summary.project_id = project.id
        users = await self._users(project.id)
        summary.users = [u.email for u in users.values()]
        await settle(
            lambda: self.call(
                self.admin,
                "labeling",
                "add_data_rows_to_project",
                lab.AddDataRowsRequest(project_id=project.id, dataset_id=dataset.id),
                lab.BatchView,
            ),
            "labeling to learn the demo rows",
        )
        ada, grace = users["annotator1"], users["annotator2"]
        first = await self._label(ada, project.id, best=0, comment="B rambles; A is to the point.")
        second = await self._label(grace, project.id, best=0, comment=None)
        summary.labels_submitted = 2
        if first is not None and second is not None and first.task_id == second.task_id:
            await self._approve(users["reviewer"], [first.id, second.id])
            summary.approved_task_id = first.task_id
        # One more label in progress elsewhere, so the queue shows work under way.
        await self._label(ada, project.id, best=1, comment=None, submit=False)
        return summary

    async def _project(self) -> lab.ProjectView:
        return await self.call(
            self.admin,
            "labeling",
            "create_project",
            lab.CreateProjectRequest(
                name=PROJECT_NAME,
                description="Rank the answers, crown the best, answer the feedback questions.",
                quality_mode="CONSENSUS",
                consensus_label_count=2,
                consensus_coverage=1.0,
                ontology=lab.OntologyInput(
                    format="DATALOOP", source=demo_file("feedback_questions.json")
                ),
                settings=lab.ProjectSettingsPatch(
                    allow_response_edit=True, allow_response_add=True, review_required=True
                ),
            ),
            lab.ProjectView,
        )

    async def _users(self, project_id: str) -> dict[str, Identity]:
        """The demo users (made if missing), members of the project; keyed by email name."""
        out: dict[str, Identity] = {}
        for email, name, role in DEMO_USERS:
            user = await self.accounts.find_user_by_email(email)
            if user is None or user.org_id != self.admin.org_id:
                user = await self.accounts.create_user(self.admin, email=email, name=name)
            await self.call(
                self.admin,
                "labeling",
                "add_project_member",
                lab.AddProjectMemberRequest(project_id=project_id, user_id=user.user_id, role=role),
                lab.ProjectMemberView,
            )
            out[email.split("@")[0]] = identity_of(user)
        return out

    async def _label(
        self,
        who: Identity,
        project_id: str,
        *,
        best: int,
        comment: str | None,
        submit: bool = True,
    ) -> lab.LabelView | None:
        """Claim the next task and label it: rank, crown, answer every required question,
        maybe comment, then submit. None when the queue is empty for ``who``."""
        task = await settle(
            lambda: self.call(
                who,
                "labeling",
                "claim_next_task",
                lab.ProjectRef(project_id=project_id),
                lab.TaskView | None,  # type: ignore[arg-type]
            ),
            "a task to claim",
        )
        if task is None or task.data_row is None:
            return None

        async def act(op: str, body: Any) -> lab.LabelView:
            return await self.call(who, "labeling", op, body, lab.LabelView)

        label: lab.LabelView | None = None
        for prompt in task.data_row.prompts:
            responses = prompt.responses
            if not responses:
                continue
            order = [responses[best % len(responses)]] + [
                r for i, r in enumerate(responses) if i != best % len(responses)
            ]
            await act(
                "rank_responses",
                lab.RankResponsesRequest(
                    task_id=task.id,
                    prompt_id=prompt.id,
                    ranking=[
                        lab.RankInput(response_id=r.id, rank=i + 1) for i, r in enumerate(order)
                    ],
                ),
            )
            await act(
                "crown_response",
                lab.CrownResponseRequest(
                    task_id=task.id, prompt_id=prompt.id, response_id=order[0].id
                ),
            )
            for rank, response in enumerate(order):
                await act(
                    "answer_question",
                    lab.AnswerQuestionRequest(
                        task_id=task.id,
                        question_id="helpfulness",
                        answer=max(5 - rank, 1),
                        target=Target(response_id=response.id),
                    ),
                )
        label = await act(
            "answer_question",
            lab.AnswerQuestionRequest(task_id=task.id, question_id="safe", answer=True),
        )
        label = await act(
            "answer_question",
            lab.AnswerQuestionRequest(task_id=task.id, question_id="tone", answer="neutral"),
        )
        if comment:
            await self.call(
                who,
                "labeling",
                "add_comment",
                lab.AddCommentRequest(task_id=task.id, body=comment),
                lab.CommentView,
            )
        if submit:
            label = await act("submit_label", lab.TaskRef(task_id=task.id))
        return label

    async def _approve(self, reviewer: Identity, label_ids: list[str]) -> None:
        for label_id in label_ids:

            async def approve(label_id: str = label_id) -> rev.LabelReviewView:
                return await self.call(
                    reviewer,
                    "review",
                    "approve_label",
                    rev.ApproveLabel(label_id=label_id, comment="Looks right."),
                    rev.LabelReviewView,
                )

            await settle(approve, "review to learn the submitted labels")


async def settle(attempt: Callable[[], Awaitable[T]], what: str) -> T:
    """``attempt()`` until the service it calls has learned what it needs from other
    services' events (until then it answers NOT_FOUND, INVALID_INPUT or CONFLICT). After
    ``SETTLE_SECONDS`` raises Unavailable naming ``what`` and the last refusal."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        try:
            return await attempt()
        except (NotFound, Invalid, Conflict, Unavailable) as exc:
            if time.monotonic() > deadline:
                raise Unavailable(f"timed out waiting for {what}: {exc.message}") from exc
            await asyncio.sleep(0.1)
