"""The labeling schema's migrations (registered under the ``preflog.migrations`` entry point)."""

from __future__ import annotations

from preflog_eventstore import Migration, load_migrations


def migrations() -> list[Migration]:
    return load_migrations("labeling", "preflog_labeling.migrations")
