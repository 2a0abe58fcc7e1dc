"""preflog_labeling."""
