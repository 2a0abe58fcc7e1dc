"""SQL migrations of the ``ingest`` schema (``NNNN_name.sql``)."""
