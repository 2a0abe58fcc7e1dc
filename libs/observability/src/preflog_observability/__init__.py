"""preflog_observability."""
