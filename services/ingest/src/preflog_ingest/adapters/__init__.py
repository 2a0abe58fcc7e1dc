"""The ingest service's edges: RPC endpoints, tables, the URL fetcher, the project consumer."""
