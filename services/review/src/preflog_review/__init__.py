"""preflog_review."""
