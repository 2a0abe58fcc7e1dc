"""The export schema's migrations (registered as the ``preflog.migrations`` entry point)."""

from __future__ import annotations

from preflog_eventstore import Migration, load_migrations


def migrations() -> list[Migration]:
    return load_migrations("export", "preflog_export.migrations")
