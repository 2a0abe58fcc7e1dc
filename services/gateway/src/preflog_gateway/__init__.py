"""preflog_gateway."""
