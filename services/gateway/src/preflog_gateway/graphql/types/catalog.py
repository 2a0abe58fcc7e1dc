"""Datasets, data rows and their conversations (owned by ingest)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from preflog_contracts import datarow as canonical
from preflog_contracts.rpc import ingest
from preflog_contracts.rpc import labeling as rpc
from preflog_gateway.graphql.content import ContentFormat, render
from preflog_gateway.graphql.types.audit import PageInfo
from preflog_gateway.graphql.types.enums import ContentFormatEnum
from preflog_gateway.limits import check_page_size


@strawberry.type
class Dataset:
    id: strawberry.ID
    name: str
    description: str | None
    data_row_count: int
    created_at: datetime | None

    @strawberry.field(description="The dataset's rows in import order (at most 500 a page).")
    async def data_rows(
        self, info: strawberry.Info, first: int | None = 50, after: str | None = None
    ) -> DataRowConnection:
        ctx = info.context["ctx"]
        first = 50 if first is None else first
        check_page_size(first, ctx.runtime.settings.max_page_size)
        page = await ctx.call(
            "ingest",
            "list_data_rows",
            ingest.ListDataRowsRequest(dataset_id=str(self.id), first=first, after=after),
            response_type=ingest.DataRowPage,
        )
        return DataRowConnection(
            edges=[DataRowEdge(cursor=v.id, node=data_row_of_catalog(v)) for v in page.items],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.next_cursor),
        )

    @classmethod
    def of(cls, v: ingest.DatasetView) -> Dataset:
        return cls(
            id=strawberry.ID(v.id),
            name=v.name,
            description=v.description or None,
            data_row_count=v.data_row_count,
            created_at=v.created_at,
        )


@strawberry.type
class Message:
    id: strawberry.ID
    role: str
    author_name: str | None
    can_label: bool
    parts: strawberry.Private[list[canonical.Part]]

    @strawberry.field(description="The message content; HTML is rendered and sanitised.")
    def content(
        self,
        format: ContentFormatEnum | None = ContentFormat.MARKDOWN,  # type: ignore[valid-type]
    ) -> str:
        return render(self.parts, format)

    @classmethod
    def of(cls, m: canonical.Message) -> Message:
        return cls(
            id=strawberry.ID(m.id),
            role=m.role,
            author_name=m.author.name or None,
            can_label=m.can_label,
            parts=list(m.content),
        )


@strawberry.type
class Response:
    id: strawberry.ID
    title: str
    model_config_name: str
    edited: bool
    deleted: bool
    added_by: strawberry.ID | None = strawberry.field(
        description="The user who added this response in a label (null for imported ones)."
    )
    streamed: bool = strawberry.field(
        description="Added as a URL to media the client streams (content holds the URL)."
    )
    parts: strawberry.Private[list[canonical.Part]]
    original_parts: strawberry.Private[list[canonical.Part] | None]

    @strawberry.field(description="The response as shown to the viewer (edited, if edited).")
    def content(
        self,
        format: ContentFormatEnum | None = ContentFormat.MARKDOWN,  # type: ignore[valid-type]
    ) -> str:
        return render(self.parts, format)

    @strawberry.field(description="The imported content before any edit (null if never edited).")
    def original(
        self,
        format: ContentFormatEnum | None = ContentFormat.MARKDOWN,  # type: ignore[valid-type]
    ) -> str | None:
        return None if self.original_parts is None else render(self.original_parts, format)

    @classmethod
    def of(cls, r: canonical.Response) -> Response:
        return cls(
            id=strawberry.ID(r.id),
            title=r.title,
            model_config_name=r.model_config_name,
            edited=False,
            deleted=False,
            added_by=None,
            streamed=False,
            parts=list(r.content),
            original_parts=None,
        )


def response_of_view(r: rpc.ResponseView) -> Response:
    return Response(
        id=strawberry.ID(r.id),
        title=r.title,
        model_config_name=r.model_config_name,
        edited=r.edited,
        deleted=r.deleted,
        added_by=strawberry.ID(r.added_by) if r.added_by else None,
        streamed=r.streamed,
        parts=list(r.content),
        original_parts=list(r.original) if r.original is not None else None,
    )


def data_row_of_view(v: rpc.DataRowView) -> DataRow:
    """A data row as labeling shows it to the viewer (responses in their edited form)."""
    return DataRow(
        id=strawberry.ID(v.id),
        global_key=v.global_key,
        external_id=v.external_id,
        dataset_id=strawberry.ID(v.dataset_id) if v.dataset_id else None,
        messages=[Message.of(m) for m in v.messages],
        prompts=[
            PromptPoint(
                id=strawberry.ID(p.id),
                after_message_id=strawberry.ID(p.after_message_id) if p.after_message_id else None,
                responses=[response_of_view(r) for r in p.responses],
            )
            for p in v.prompts
        ],
        metadata=cast(JSON, v.metadata),
        created_at=v.created_at,
    )


@strawberry.type
class PromptPoint:
    id: strawberry.ID
    after_message_id: strawberry.ID | None
    responses: list[Response]

    @classmethod
    def of(cls, p: canonical.PromptPoint) -> PromptPoint:
        return cls(
            id=strawberry.ID(p.id),
            after_message_id=strawberry.ID(p.after_message_id) if p.after_message_id else None,
            responses=[Response.of(r) for r in p.responses],
        )


@strawberry.type
class DataRow:
    id: strawberry.ID
    global_key: str | None
    external_id: str | None
    dataset_id: strawberry.ID | None
    messages: list[Message]
    prompts: list[PromptPoint]
    metadata: JSON | None
    created_at: datetime | None

    @strawberry.field(description="The dataset the row was imported into.")
    async def dataset(self, info: strawberry.Info) -> Dataset | None:
        if self.dataset_id is None:
            return None
        found = await info.context["ctx"].loaders.datasets.load(str(self.dataset_id))
        return None if found is None else Dataset.of(found)

    @classmethod
    def of(
        cls,
        *,
        id: str,
        row: canonical.DataRow,
        global_key: str | None = None,
        external_id: str | None = None,
        dataset_id: str | None = None,
        metadata: object = None,
        created_at: datetime | None = None,
    ) -> DataRow:
        return cls(
            id=strawberry.ID(id),
            global_key=global_key,
            external_id=external_id,
            dataset_id=strawberry.ID(dataset_id) if dataset_id else None,
            messages=[Message.of(m) for m in row.messages],
            prompts=[PromptPoint.of(p) for p in row.prompts],
            metadata=cast(JSON, metadata),
            created_at=created_at,
        )


def data_row_of_catalog(v: ingest.DataRowView) -> DataRow:
    """A data row as imported (the catalog's form, before any label's edits)."""
    return DataRow.of(
        id=v.id,
        row=v.row,
        global_key=v.global_key,
        external_id=v.external_id,
        dataset_id=v.dataset_id,
        metadata=v.metadata,
        created_at=v.created_at,
    )


@strawberry.type
class DataRowEdge:
    cursor: str
    node: DataRow


@strawberry.type
class DataRowConnection:
    edges: list[DataRowEdge]
    page_info: PageInfo


@strawberry.type
class ImportError:
    index: int
    global_key: str | None
    code: str
    message: str
    path: str | None


@strawberry.type
class ImportResult:
    accepted: int
    rejected: int
    duplicates: int = strawberry.field(
        description="Rows whose global key an earlier import already holds (not imported again)."
    )
    errors: list[ImportError]
    data_row_ids: list[strawberry.ID]
    import_id: strawberry.ID | None

    @classmethod
    def of(cls, v: ingest.ImportResult) -> ImportResult:
        return cls(
            accepted=v.accepted,
            rejected=v.rejected,
            duplicates=v.duplicates,
            errors=[
                ImportError(
                    index=e.index,
                    global_key=e.global_key,
                    code=e.code,
                    message=e.message,
                    path=e.path or None,
                )
                for e in v.errors
            ],
            data_row_ids=[strawberry.ID(i) for i in v.data_row_ids],
            import_id=strawberry.ID(v.import_id) if v.import_id else None,
        )
