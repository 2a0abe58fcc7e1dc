"""Schema ``ingest`` migrations, registered under the ``preflog.migrations`` entry point."""

from __future__ import annotations

from preflog_eventstore import Migration, load_migrations


def migrations() -> list[Migration]:
    return load_migrations("ingest", "preflog_ingest.migrations")
