"""preflog_cli."""
