"""``labelbox``: one data row per record in Labelbox's export v2 shape.

``projects.<project_id>.labels[]`` carries one entry per exported label with
``label_details``, ``performance_details`` and ``annotations``: question answers become
``classifications`` (``radio_answer`` / ``checklist_answers`` / ``text_answer``, or their
``conversational_*`` forms with ``message_id`` when the answer targets a message or a
response), crowns become ``MessageSingleSelection`` objects and rankings
``MessageRanking`` objects, as Labelbox exports multimodal chat evaluations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from preflog_contracts.datarow import Message, PromptPoint
from preflog_contracts.events.labels import Answer, LabelSnapshot
from preflog_contracts.events.projects import Question
from preflog_export.domain.item import ExportItem, ExportLabel
from preflog_export.domain.judgement import exported_labels
from preflog_export.domain.options import ExportOptions

WORKFLOW_STATUS = {
    "TO_LABEL": "ToLabel",
    "IN_REVIEW": "InReview",
    "IN_REWORK": "InRework",
    "DONE": "Done",
    "SKIPPED": "Skipped",
}
REVIEW_ACTION = {"APPROVE": "Approve", "REJECT": "Reject"}
CROWN_FEATURE = "crown"
RANKING_FEATURE = "ranking"


class LabelboxConversation(msgspec.Struct, frozen=True, kw_only=True):
    messages: list[Message]
    prompts: list[PromptPoint]


class LabelboxDataRow(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    global_key: str
    row_data: LabelboxConversation
    external_id: str | None = None


class LabelboxMetadataField(msgspec.Struct, frozen=True, kw_only=True):
    schema_name: str
    value: Any


class LabelboxText(msgspec.Struct, frozen=True, kw_only=True):
    content: str


class LabelboxOption(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    value: str
    classifications: list[LabelboxClassification]


class LabelboxClassification(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    name: str
    value: str
    message_id: str | None = None
    radio_answer: LabelboxOption | None = None
    checklist_answers: list[LabelboxOption] | None = None
    text_answer: LabelboxText | None = None
    conversational_radio_answer: LabelboxOption | None = None
    conversational_checklist_answers: list[LabelboxOption] | None = None
    conversational_text_answer: LabelboxText | None = None


class SelectedMessage(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    model_config_name: str
    parent_message_id: str


class RankedMessage(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    model_config_name: str
    order: int


class RankedMessages(msgspec.Struct, frozen=True, kw_only=True):
    ranked_messages: list[RankedMessage]
    parent_message_id: str


class LabelboxObject(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    name: str
    annotation_kind: str
    classifications: list[LabelboxClassification]
    selected_message: SelectedMessage | None = None
    ranked_messages: RankedMessages | None = None


class LabelboxAnnotations(msgspec.Struct, frozen=True, kw_only=True):
    objects: list[LabelboxObject]
    classifications: list[LabelboxClassification]
    relationships: list[Any]


class LabelboxReview(msgspec.Struct, frozen=True, kw_only=True):
    reviewed_at: datetime
    reviewed_by: str
    review_action: str
    comment: str


class LabelDetails(msgspec.Struct, frozen=True, kw_only=True):
    created_at: datetime
    updated_at: datetime
    created_by: str
    content_last_updated_at: datetime
    reviews: list[LabelboxReview]


class PerformanceDetails(msgspec.Struct, frozen=True, kw_only=True):
    seconds_to_create: int | None
    skipped: bool
    consensus_score: float | None
    benchmark_score: float | None
    benchmark_reference_label: bool


class LabelboxLabel(msgspec.Struct, frozen=True, kw_only=True):
    label_kind: str
    version: str
    id: str
    label_details: LabelDetails
    performance_details: PerformanceDetails
    annotations: LabelboxAnnotations


class ProjectDetails(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    batch_id: str
    workflow_status: str
    selected_label_id: str | None


class LabelboxProject(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    labels: list[LabelboxLabel]
    project_details: ProjectDetails


class LabelboxRecord(msgspec.Struct, frozen=True, kw_only=True):
    data_row: LabelboxDataRow
    metadata_fields: list[LabelboxMetadataField]
    attachments: list[Any]
    projects: dict[str, LabelboxProject]


def labelbox_records(item: ExportItem, options: ExportOptions) -> list[LabelboxRecord]:
    """One record for the data row, or none when no label passes the status filter.

    ``row_data`` is the conversation in Preflog's canonical form (Labelbox would give a
    URL). ``selected_label_id`` is the benchmark reference label when there is one.
    """
    labels = exported_labels(item, options)
    if not labels:
        return []
    ontology = _Ontology(item.questions)
    parents = {point.id: point.after_message_id or point.id for point in item.row.prompts}
    models = {r.id: r.model_config_name for point in item.row.prompts for r in point.responses}
    reference = next((label.label_id for label in labels if label.is_benchmark_reference), None)
    return [
        LabelboxRecord(
            data_row=LabelboxDataRow(
                id=item.data_row_id,
                global_key=item.global_key,
                external_id=item.external_id,
                row_data=LabelboxConversation(messages=item.row.messages, prompts=item.row.prompts),
            ),
            metadata_fields=[
                LabelboxMetadataField(schema_name=name, value=value)
                for name, value in item.metadata.items()
            ],
            attachments=[],
            projects={
                item.project_id: LabelboxProject(
                    name=item.project_name,
                    labels=[_label(label, ontology, parents, models) for label in labels],
                    project_details=ProjectDetails(
                        task_id=item.task_id,
                        batch_id=item.batch_id,
                        workflow_status=WORKFLOW_STATUS.get(
                            item.workflow_status, item.workflow_status
                        ),
                        selected_label_id=reference,
                    ),
                )
            },
        )
    ]


def _label(
    label: ExportLabel, ontology: _Ontology, parents: dict[str, str], models: dict[str, str]
) -> LabelboxLabel:
    snapshot = label.snapshot
    label_models = dict(models)
    for response in snapshot.responses:
        if response.added:
            label_models[response.response_id] = response.model_config_name
    reviewed = [review.at for review in label.reviews]
    created_by = label.author.email or label.author.id
    return LabelboxLabel(
        label_kind="Default",
        version="1.0.0",
        id=label.label_id,
        label_details=LabelDetails(
            created_at=label.started_at or label.submitted_at,
            updated_at=max([label.submitted_at, *reviewed]),
            created_by=created_by,
            content_last_updated_at=label.submitted_at,
            reviews=[
                LabelboxReview(
                    reviewed_at=review.at,
                    reviewed_by=review.reviewer.email or review.reviewer.id,
                    review_action=REVIEW_ACTION[review.action],
                    comment=review.comment,
                )
                for review in label.reviews
            ],
        ),
        performance_details=PerformanceDetails(
            seconds_to_create=(
                int((label.submitted_at - label.started_at).total_seconds())
                if label.started_at is not None
                else None
            ),
            skipped=False,
            consensus_score=label.consensus_score,
            benchmark_score=label.benchmark_score,
            benchmark_reference_label=label.is_benchmark_reference,
        ),
        annotations=LabelboxAnnotations(
            objects=_objects(snapshot, parents, label_models),
            classifications=ontology.classifications(snapshot.answers),
            relationships=[],
        ),
    )


def _objects(
    snapshot: LabelSnapshot, parents: dict[str, str], models: dict[str, str]
) -> list[LabelboxObject]:
    objects = [
        LabelboxObject(
            name=CROWN_FEATURE,
            annotation_kind="MessageSingleSelection",
            classifications=[],
            selected_message=SelectedMessage(
                message_id=crown.response_id,
                model_config_name=models.get(crown.response_id, ""),
                parent_message_id=parents.get(crown.prompt_id, crown.prompt_id),
            ),
        )
        for crown in snapshot.crowns
    ]
    objects.extend(
        LabelboxObject(
            name=RANKING_FEATURE,
            annotation_kind="MessageRanking",
            classifications=[],
            ranked_messages=RankedMessages(
                ranked_messages=[
                    RankedMessage(
                        message_id=entry.response_id,
                        model_config_name=models.get(entry.response_id, ""),
                        order=entry.rank,
                    )
                    for entry in ranking.ranking
                ],
                parent_message_id=parents.get(ranking.prompt_id, ranking.prompt_id),
            ),
        )
        for ranking in snapshot.rankings
    )
    return objects


class _Ontology:
    """Questions by id (follow-ups included) and which option each follow-up hangs on."""

    def __init__(self, questions: list[Question]) -> None:
        self.questions: dict[str, Question] = {}
        self.parent: dict[str, tuple[str, str]] = {}
        pending = list(questions)
        while pending:
            question = pending.pop()
            self.questions[question.id] = question
            for option in question.options:
                for follow_up in option.follow_ups:
                    self.parent[follow_up.id] = (question.id, option.value)
                    pending.append(follow_up)

    def classifications(self, answers: list[Answer]) -> list[LabelboxClassification]:
        """Answers as classifications; a follow-up answered on the same target as its
        parent's chosen option is nested under that option, as Labelbox nests them."""
        by_target: dict[str | None, dict[str, Answer]] = {}
        for answer in answers:
            target = answer.target.message_id or answer.target.response_id
            by_target.setdefault(target, {})[answer.question_id] = answer
        out: list[LabelboxClassification] = []
        for target, answered in by_target.items():
            for answer in answered.values():
                if not self._nested(answer, answered):
                    out.append(self._classification(answer, answered, target))
        return out

    def _nested(self, answer: Answer, answered: dict[str, Answer]) -> bool:
        parent = self.parent.get(answer.question_id)
        if parent is None or parent[0] not in answered:
            return False
        return parent[1] in _chosen(answered[parent[0]].value)

    def _classification(
        self, answer: Answer, answered: dict[str, Answer], target: str | None
    ) -> LabelboxClassification:
        question = self.questions.get(answer.question_id)
        kind = question.kind if question is not None else _kind_of(answer.value)
        name = answer.question_id
        if kind == "TEXT":
            text = LabelboxText(content=str(answer.value))
            if target is None:
                return LabelboxClassification(name=name, value=name, text_answer=text)
            return LabelboxClassification(
                name=name, value=name, message_id=target, conversational_text_answer=text
            )
        options = [
            self._option(question, value, answered, target) for value in _chosen(answer.value)
        ]
        if kind == "CHECKLIST":
            if target is None:
                return LabelboxClassification(name=name, value=name, checklist_answers=options)
            return LabelboxClassification(
                name=name, value=name, message_id=target, conversational_checklist_answers=options
            )
        option = options[0] if options else LabelboxOption(name="", value="", classifications=[])
        if target is None:
            return LabelboxClassification(name=name, value=name, radio_answer=option)
        return LabelboxClassification(
            name=name, value=name, message_id=target, conversational_radio_answer=option
        )

    def _option(
        self,
        question: Question | None,
        value: str,
        answered: dict[str, Answer],
        target: str | None,
    ) -> LabelboxOption:
        label = value
        nested: list[LabelboxClassification] = []
        if question is not None:
            for option in question.options:
                if option.value == value:
                    label = option.label or value
                    nested = [
                        self._classification(answered[f.id], answered, target)
                        for f in option.follow_ups
                        if f.id in answered
                    ]
                    break
        return LabelboxOption(name=label, value=value, classifications=nested)


def _chosen(value: Any) -> list[str]:
    """An answer value as option values: checklists as they are, YES_NO as yes/no, a scale
    number as its shortest string (3, not 3.0)."""
    if isinstance(value, list):
        return [_option_value(v) for v in value]
    return [_option_value(value)]


def _option_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _kind_of(value: Any) -> str:
    # An answer to a question the ontology no longer has: guess the kind from the value.
    if isinstance(value, list):
        return "CHECKLIST"
    if isinstance(value, str):
        return "TEXT"
    return "RADIO"
