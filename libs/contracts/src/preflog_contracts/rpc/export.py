"""Requests and answers of the export service (NATS service ``export``).

Operations:

- ``export`` (a STREAM, see :mod:`preflog_messaging.streams`): ExportRequest -> NDJSON bytes.
  The gateway's ``GET /v1/projects/{id}/export`` pipes it into a streaming response::

      body = ExportRequest(project_id=pid, format=q["format"], status=q.get("status", "APPROVED"),
                           since=q.get("since"), follow=q.get("follow") == "true", ...)
      async def ndjson():
          async for chunk in stream_call(runtime.rpc, "export", "export", body, ctx=ctx):
              yield chunk            # whole NDJSON lines; the HTTP client's pace sets the credit
      # errors raised before the first chunk (INVALID_INPUT, FORBIDDEN, NOT_FOUND) arrive when
      # the first chunk is awaited: await it before sending the 200, so they map to statuses.

  Chunks hold whole lines and end at a record boundary. Every chunk's last line is a cursor
  line ``{"_cursor": "<opaque>"}`` for everything before it; the stream's last line is one;
  with ``follow`` a cursor line is also sent as a heartbeat every ``heartbeat_seconds``.
  Passing a cursor back as ``since`` (same project, same filters) resumes exactly after it.
  A record appears again after a cursor only if its task changed since (a later approval,
  a review): pipelines keep the last line per record ``id``.
- ``enable_export_feed`` EnableExportFeed -> ExportFeed: publish the project's records in that
  format to JetStream subject ``<ns>.exports.<project_id>.<format>`` (stream ``<NS>_EXPORTS``),
  from the project's first record on, then live. Idempotent. Managers, owners, org admins.
- ``export_feeds`` ExportFeedsRequest -> ExportFeeds: the project's enabled feeds.
- ``export_formats`` ExportFormatsRequest -> ExportFormats: valid formats, statuses, pair
  strategies and request fields (for validating query parameters at the edge).

Errors: INVALID_INPUT (unknown format, status, pair strategy, batch or field — ``fields``
lists the valid ones; a forged cursor or one from another project or filter), FORBIDDEN (not
a manager/owner of the project nor an org admin), NOT_FOUND (no such project in the caller's
org). Field names are snake_case; the gateway renames them.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

EXPORT_SERVICE = "export"


class ExportRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One export stream. ``models`` keeps pairs between those ``model_config_name`` only;
    ``since_time``/``until_time`` keep labels whose latest status change (submission or
    review) falls in ``[since_time, until_time)``."""

    project_id: str
    format: str
    status: str = "APPROVED"  # APPROVED | SUBMITTED | REJECTED | ALL
    since: str | None = None  # a cursor from an earlier stream of the same filters
    follow: bool = False
    batch_id: str | None = None
    since_time: datetime | None = None
    until_time: datetime | None = None
    models: list[str] | None = None
    pair_strategy: str = "best_vs_rest"  # best_vs_rest | all_pairs | best_vs_worst
    heartbeat_seconds: float = 5.0


class EnableExportFeed(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    project_id: str
    format: str
    status: str = "APPROVED"
    pair_strategy: str = "best_vs_rest"


class ExportFeed(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str
    format: str
    status: str
    pair_strategy: str
    subject: str  # one JSON record per message, Nats-Msg-Id "<project>:<format>:<seq>:<n>"
    stream: str
    published_seq: int  # how far the feed has published (the project's export_seq)


class ExportFeedsRequest(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str


class ExportFeeds(msgspec.Struct, frozen=True, kw_only=True):
    feeds: list[ExportFeed]


class ExportFormatsRequest(msgspec.Struct, frozen=True, kw_only=True):
    pass


class ExportFormats(msgspec.Struct, frozen=True, kw_only=True):
    formats: list[str]
    statuses: list[str]
    pair_strategies: list[str]
    fields: list[str]  # ExportRequest's fields


def exports_subject(namespace: str, project_id: str, export_format: str) -> str:
    """The JetStream subject a project's feed in one format is published on."""
    return f"{namespace}.exports.{project_id}.{export_format}"


def exports_stream(namespace: str) -> str:
    """The JetStream stream holding every export feed (subjects ``<ns>.exports.>``)."""
    return f"{namespace.upper().replace('.', '_').replace('-', '_')}_EXPORTS"
