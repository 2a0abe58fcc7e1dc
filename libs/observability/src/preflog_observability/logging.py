"""structlog set-up: JSON lines in production, pretty on a terminal, context in contextvars."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


def configure_logging(*, fmt: str = "auto", level: str = "info") -> None:
    """``fmt`` is ``json``, ``console`` or ``auto`` (console when stdout is a terminal)."""
    pretty = fmt == "console" or (fmt == "auto" and sys.stdout.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if pretty else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(level.upper()) if isinstance(level, str) else level
        ),
        cache_logger_on_first_use=True,
    )


def bind_context(**values: Any) -> None:
    """Bind request/correlation/event ids for every log line of the current task."""
    structlog.contextvars.bind_contextvars(**values)
