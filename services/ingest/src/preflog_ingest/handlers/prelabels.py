"""Model-assisted pre-labels (Labelbox MAL) recorded on a project's data rows.

Each line is validated, its data row found (by global key or id, in the caller's org and
in one of the project's batches), and mapped onto the project's latest ontology; lines that
do not fit are refused one by one. What fits becomes one ``PreLabelsImported`` per data row
(labeling seeds its labels from it), all in one transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

import msgspec

from preflog_contracts.envelope import stream_name
from preflog_contracts.errors import Invalid, NotFound
from preflog_contracts.events.base import Event
from preflog_contracts.events.catalog import PreLabel, PreLabelsImported
from preflog_contracts.rpc.ingest import (
    MAX_IMPORT_ROWS,
    ImportErrorView,
    ImportPreLabelsRequest,
    ImportResult,
)
from preflog_eventstore import ANY, StreamWrite
from preflog_ingest.adapters import catalog_tables, project_tables
from preflog_ingest.domain import MalLine, Rejected, RowError, map_prelabel, parse_prelabel_value
from preflog_ingest.domain.access import require_manager
from preflog_ingest.domain.row_errors import IngestErrorCode
from preflog_ingest.handlers.datasets import load_data_rows
from preflog_ingest.handlers.deps import IngestDeps
from preflog_messaging.rpc import CallContext


class PreLabels:
    def __init__(self, deps: IngestDeps) -> None:
        self.deps = deps

    async def import_prelabels(self, ctx: CallContext, req: ImportPreLabelsRequest) -> ImportResult:
        """MANAGER/OWNER of the project or org ADMIN. NOT_FOUND for a project outside the
        caller's org; ``errors[].index`` is 0-based. ``data_row_ids`` are the rows that got
        pre-labels. A repeated idempotency key returns the first result."""
        identity = ctx.require_identity()
        if len(req.annotations) > MAX_IMPORT_ROWS:
            raise Invalid(
                f"at most {MAX_IMPORT_ROWS} annotations per call", {"annotations": "too many"}
            )
        org_id = identity.org_id
        async with self.deps.pool.acquire() as conn:
            project = await project_tables.load_project(conn, org_id, req.project_id)
            if project is None:
                raise NotFound("project not found")
            own_role = await project_tables.role_in_project(conn, req.project_id, identity.user_id)
            role = require_manager(identity, {own_role} if own_role else set(), "import pre-labels")
            parsed = [parse_prelabel_value(v, i + 1) for i, v in enumerate(req.annotations)]
            lines = [p for p in parsed if isinstance(p, MalLine)]
            by_key = await catalog_tables.global_key_ids(
                conn, org_id, [ln.data_row.global_key for ln in lines if ln.data_row.global_key]
            )
            named_ids = [ln.data_row.id for ln in lines if ln.data_row.id]
            known_ids = set(await catalog_tables.find_data_rows(conn, org_id, ids=named_ids))
            candidates = set(by_key.values()) | known_ids
            in_project = await project_tables.rows_in_project(
                conn, req.project_id, sorted(candidates)
            )
        rows = {
            v.id: v.row for v in await load_data_rows(self.deps.store, org_id, sorted(in_project))
        }

        refused: list[Rejected] = []
        prelabels: dict[str, list[PreLabel]] = defaultdict(list)
        for i, item in enumerate(parsed, start=1):
            if isinstance(item, Rejected):
                refused.append(item)
                continue
            ref = item.data_row
            data_row_id = by_key.get(ref.global_key or "") if ref.global_key else ref.id
            if data_row_id is None or data_row_id not in rows:
                refused.append(_unknown_row(item, i))
                continue
            mapped = map_prelabel(item, project.questions, rows[data_row_id], i)
            if isinstance(mapped, Rejected):
                refused.append(mapped)
            else:
                prelabels[data_row_id] += mapped

        errors = [
            ImportErrorView(
                index=r.line - 1,
                code=str(e.code),
                message=e.message,
                path=e.path,
                global_key=r.global_key,
            )
            for r in refused
            for e in r.errors
        ]
        result = ImportResult(
            accepted=len(req.annotations) - len(refused),
            rejected=len(refused),
            errors=errors,
            data_row_ids=sorted(prelabels),
        )
        writes = [
            StreamWrite(
                stream_name(PreLabelsImported.category, str(uuid.uuid4())),
                [_event(req.project_id, data_row_id, items)],
                ANY,
            )
            for data_row_id, items in sorted(prelabels.items())
        ]
        appended = await self.deps.store.append(
            writes,
            org_id=org_id,
            metadata=ctx.metadata(role, project_id=req.project_id),
            idempotency_key=req.idempotency_key or ctx.idempotency_key,
            result=msgspec.to_builtins(result),
        )
        if appended.duplicate:
            return msgspec.convert(appended.result, ImportResult)
        return result


def _event(project_id: str, data_row_id: str, items: list[PreLabel]) -> Event:
    return PreLabelsImported(project_id=project_id, data_row_id=data_row_id, prelabels=items)


def _unknown_row(line: MalLine, line_no: int) -> Rejected:
    ref = line.data_row
    named = f"global key '{ref.global_key}'" if ref.global_key else f"id '{ref.id}'"
    return Rejected(
        line=line_no,
        global_key=ref.global_key,
        errors=[
            RowError(
                code=IngestErrorCode.UNKNOWN_DATA_ROW,
                path="dataRow.globalKey" if ref.global_key else "dataRow.id",
                message=f"no data row with {named} in this project",
            )
        ],
    )
