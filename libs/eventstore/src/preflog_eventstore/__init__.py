"""The Postgres event store: append with expected versions, gap-safe reads, projections,
migrations and the relay to JetStream."""

from __future__ import annotations

from preflog_eventstore.conn import Conn
from preflog_eventstore.db import (
    DATABASE_UNAVAILABLE,
    LostConnections,
    connection_lost,
    create_database,
    create_pool,
    drop_database,
    migrate,
    unlock_advisory,
    with_database,
)
from preflog_eventstore.migrate import Migration, apply_migrations, load_migrations
from preflog_eventstore.projections import Projection, ProjectionRunner, every, sleep_or_stop
from preflog_eventstore.store import (
    ANY,
    IDEMPOTENCY_WINDOW,
    NO_STREAM,
    AppendedEvent,
    AppendResult,
    Effect,
    EventStore,
    Lock,
    StreamWrite,
    conditions,
    load_checkpoint,
    prune_idempotency_keys,
    save_checkpoint,
)
from preflog_eventstore.timetravel import fold

__all__ = [
    "ANY",
    "DATABASE_UNAVAILABLE",
    "IDEMPOTENCY_WINDOW",
    "NO_STREAM",
    "AppendResult",
    "AppendedEvent",
    "Conn",
    "Effect",
    "EventStore",
    "Lock",
    "LostConnections",
    "Migration",
    "Projection",
    "ProjectionRunner",
    "StreamWrite",
    "apply_migrations",
    "conditions",
    "connection_lost",
    "create_database",
    "create_pool",
    "drop_database",
    "every",
    "fold",
    "load_checkpoint",
    "load_migrations",
    "migrate",
    "prune_idempotency_keys",
    "save_checkpoint",
    "sleep_or_stop",
    "unlock_advisory",
    "with_database",
]
