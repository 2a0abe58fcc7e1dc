"""preflog_messaging."""
