"""Reading the audit log for a caller: filtered, paged, and restricted to what they may see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from preflog_contracts.envelope import RecordedEvent
from preflog_contracts.errors import Invalid
from preflog_contracts.identity import Identity
from preflog_eventstore import EventStore
from preflog_gateway.accounts.access import project_roles
from preflog_gateway.accounts.visibility import may_see
from preflog_gateway.graphql.types.audit import AuditFilter

if TYPE_CHECKING:
    from preflog_gateway.graphql.context import GatewayContext

_SCAN_BATCH = 500
_MAX_SCANS = 20


@dataclass(frozen=True)
class AuditPage:
    events: list[RecordedEvent]
    end_position: int
    has_next: bool


def decode_cursor(after: str | None) -> int:
    """Cursors are the last global position scanned, as a decimal string."""
    if after is None or after == "":
        return 0
    if not after.isdigit() or len(after) > 19:
        raise Invalid("invalid cursor", {"after": "not a cursor returned by this API"})
    return int(after)


async def audit_page(
    store: EventStore, identity: Identity, flt: AuditFilter, *, first: int, after: int
) -> AuditPage:
    """Up to ``first`` visible events after position ``after``.

    Reads the org's filtered log in position order and drops what the caller may not see;
    the cursor is the last position scanned, so hidden events never repeat nor hide others.
    """
    roles = (
        {}
        if identity.is_admin
        else await project_roles(store.pool, identity.org_id, identity.user_id)
    )
    out: list[RecordedEvent] = []
    position = after
    for _ in range(_MAX_SCANS):
        batch = await store.query(
            org_id=identity.org_id,
            project_id=_s(flt.project_id),
            task_id=_s(flt.task_id),
            label_id=_s(flt.label_id),
            actor_id=_s(flt.actor_id),
            types=flt.types or None,
            since=flt.since,
            until=flt.until,
            after_position=position,
            limit=_SCAN_BATCH if not identity.is_admin else first + 1,
        )
        for rec in batch:
            if may_see(identity, roles, rec):
                if len(out) == first:
                    return AuditPage(out, position, True)
                out.append(rec)
            position = rec.global_position
        limit = _SCAN_BATCH if not identity.is_admin else first + 1
        if len(batch) < limit:
            return AuditPage(out, position, False)
    return AuditPage(out, position, True)


def _s(value: object | None) -> str | None:
    return None if value is None else str(value)


async def task_histories(ctx: GatewayContext, task_ids: Sequence[str]) -> list[list[RecordedEvent]]:
    """Every event of each task the caller may see, oldest first: one read of the log for
    the whole batch (a page of tasks asking for ``history``), not one per task."""
    identity = ctx.identity
    store = ctx.runtime.store
    roles = (
        {}
        if identity.is_admin
        else await project_roles(store.pool, identity.org_id, identity.user_id)
    )
    by_task: dict[str, list[RecordedEvent]] = {t: [] for t in task_ids}
    position = 0
    while batch := await store.query(
        org_id=identity.org_id, task_ids=list(by_task), after_position=position, limit=5000
    ):
        for event in batch:
            if event.metadata.task_id in by_task and may_see(identity, roles, event):
                by_task[event.metadata.task_id].append(event)
        position = batch[-1].global_position
    return [by_task[t] for t in task_ids]
