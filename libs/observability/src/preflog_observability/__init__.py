"""Logging (structlog) and metrics (Prometheus) shared by every process."""

from __future__ import annotations

from preflog_observability.logging import bind_context, configure_logging

__all__ = ["bind_context", "configure_logging"]
