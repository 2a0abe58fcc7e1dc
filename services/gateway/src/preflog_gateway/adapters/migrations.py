"""The gateway's schema migrations, found by ``preflog migrate`` through an entry point."""

from __future__ import annotations

from preflog_eventstore import Migration, load_migrations


def migrations() -> list[Migration]:
    return load_migrations("gateway", "preflog_gateway.migrations")
