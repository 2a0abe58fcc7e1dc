"""preflog_testing."""
