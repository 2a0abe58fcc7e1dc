"""The views a client reads, made from folded state (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from preflog_contracts.datarow import DataRow
from preflog_contracts.events.labels import Target
from preflog_contracts.rpc.labeling import (
    AnswerView,
    CommentView,
    CrownView,
    DataRowView,
    LabelView,
    PrelabelMark,
    PromptView,
    RankingView,
    RankItem,
    ResponseEditView,
    ResponseView,
)
from preflog_labeling.domain.label import LabelState
from preflog_labeling.domain.label_content import (
    LabelContent,
    Mark,
    ResponseChange,
    effective_content,
)


def _mark(mark: Mark | None) -> PrelabelMark | None:
    return None if mark is None else PrelabelMark(source=mark.source, confidence=mark.confidence)


def label_view(state: LabelState, content: LabelContent | None = None, status: str | None = None) -> LabelView:
    """The label as clients see it; ``status`` overrides (review's decisions live elsewhere)."""
    c = content if content is not None else effective_content(state)
    return LabelView(
        id=state.label_id,
        task_id=state.task_id,
        project_id=state.project_id,
        data_row_id=state.data_row_id,
        author_id=state.author_id,
        status=status or state.status,
        rankings=[
            RankingView(
                prompt_id=p,
                ranking=[RankItem(response_id=e.response_id, rank=e.rank) for e in v.ranking],
                prelabel=_mark(v.mark),
            )
            for p, v in c.rankings.items()
        ],
        crowns=[CrownView(prompt_id=p, response_id=v.response_id, prelabel=_mark(v.mark)) for p, v in c.crowns.items()],
        answers=[
            AnswerView(
                question_id=q,
                value=v.value,
                target=Target(message_id=m, response_id=r),
                ontology_version=v.ontology_version,
                prelabel=_mark(v.mark),
            )
            for (q, m, r), v in c.answers.items()
        ],
        comments=[
            CommentView(
                id=x.comment_id,
                body=x.body,
                author_id=x.author_id,
                label_id=state.label_id,
                target=x.target,
                created_at=x.at,
            )
            for x in c.comments
        ],
        edits=[
            ResponseEditView(
                response_id=rid,
                content=list(ch.content or ()),
                prompt_id=ch.prompt_id,
                model_config_name=ch.model_config_name,
                added=ch.added,
                deleted=ch.deleted,
                edited=ch.content is not None and not ch.added,
                streamed=ch.streamed,
            )
            for rid, ch in c.responses.items()
        ],
        prelabels_pending=c.prelabels_pending,
        can_undo=state.can_undo and state.status in ("DRAFT", "REJECTED"),
        can_redo=state.can_redo and state.status in ("DRAFT", "REJECTED"),
        ontology_version=state.ontology_version,
        version=state.version,
        updated_at=state.updated_at,
        submitted_at=state.submitted_at,
    )


def data_row_view(
    data_row_id: str,
    global_key: str,
    dataset_id: str,
    row: DataRow,
    *,
    external_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    created_at: datetime | None = None,
    label: LabelView | None = None,
) -> DataRowView:
    """The row with its responses as ``label`` sees them: edited content (original kept),
    deleted flags, and the label's added responses after the originals."""
    edits = {e.response_id: e for e in (label.edits if label is not None else [])}
    prompts = []
    for prompt in row.prompts:
        responses = []
        for resp in prompt.responses:
            e = edits.get(resp.id)
            edited = e is not None and e.edited
            responses.append(
                ResponseView(
                    id=resp.id,
                    title=resp.title,
                    model_config_name=resp.model_config_name,
                    content=e.content if e is not None and edited else resp.content,
                    edited=edited,
                    original=resp.content if edited else None,
                    deleted=e.deleted if e is not None else False,
                )
            )
        for e in edits.values():
            if e.added and e.prompt_id == prompt.id:
                responses.append(
                    ResponseView(
                        id=e.response_id,
                        title=e.model_config_name or "Added response",
                        content=e.content,
                        model_config_name=e.model_config_name,
                        deleted=e.deleted,
                        added_by=label.author_id if label is not None else None,
                        streamed=e.streamed,
                    )
                )
        prompts.append(PromptView(id=prompt.id, after_message_id=prompt.after_message_id, responses=responses))
    return DataRowView(
        id=data_row_id,
        global_key=global_key,
        dataset_id=dataset_id,
        messages=list(row.messages),
        prompts=prompts,
        external_id=external_id,
        metadata=metadata or {},
        created_at=created_at,
    )


__all__ = ["ResponseChange", "data_row_view", "label_view"]
