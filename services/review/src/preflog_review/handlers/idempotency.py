"""Answering a repeated idempotency key before deciding anything.

A repeat of an action that already succeeded would be refused by the domain (an approved
label is no longer SUBMITTED), so the first result is looked up first. The store writes
and owns ``eventlog.idempotency``; this only reads it.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from preflog_contracts.identity import Identity

_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


async def stored_result(pool: asyncpg.Pool, ident: Identity, key: str) -> Any | None:
    """The result stored with ``key`` by this caller, or None if the key is new."""
    raw = await pool.fetchval(
        "select result::text from eventlog.idempotency"
        " where org_id = $1::uuid and actor_id = $2 and key = $3",
        ident.org_id,
        ident.user_id,
        key,
    )
    if raw is None:
        return None
    return _decoder.decode(raw)["result"]
