"""preflog_eventstore."""
