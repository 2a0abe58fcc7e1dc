"""The audit log as GraphQL: events, filters and cursor pages."""

from __future__ import annotations

from datetime import datetime

import msgspec
import strawberry
from strawberry.scalars import JSON

from preflog_contracts.envelope import RecordedEvent


@strawberry.type
class AuditEvent:
    id: strawberry.ID
    position: int = strawberry.field(description="global_position: pass as `after` to resume.")
    type: str
    stream_name: str
    occurred_at: datetime
    actor: strawberry.ID = strawberry.field(
        description="The acting user's id ('system' for the system)."
    )
    actor_role: str
    project_id: strawberry.ID | None
    task_id: strawberry.ID | None
    label_id: strawberry.ID | None
    data: JSON
    correlation_id: str
    user_agent: str | None

    @classmethod
    def of(cls, rec: RecordedEvent) -> AuditEvent:
        meta = rec.metadata
        return cls(
            id=strawberry.ID(rec.event_id),
            position=rec.global_position,
            type=rec.event_type,
            stream_name=rec.stream_name,
            occurred_at=rec.recorded_at,
            actor=strawberry.ID(meta.actor_id),
            actor_role=meta.actor_role,
            project_id=_id(meta.project_id),
            task_id=_id(meta.task_id),
            label_id=_id(meta.label_id),
            data=msgspec.json.decode(rec.data),
            correlation_id=meta.correlation_id,
            user_agent=meta.user_agent,
        )


def _id(value: str | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(value)


@strawberry.input
class AuditFilter:
    project_id: strawberry.ID | None = None
    task_id: strawberry.ID | None = None
    label_id: strawberry.ID | None = None
    actor_id: strawberry.ID | None = None
    types: list[str] | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class AuditEventEdge:
    cursor: str
    node: AuditEvent


@strawberry.type
class AuditEventConnection:
    edges: list[AuditEventEdge]
    page_info: PageInfo
