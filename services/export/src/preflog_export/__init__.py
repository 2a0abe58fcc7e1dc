"""preflog_export."""
