"""preflog_ingest."""
