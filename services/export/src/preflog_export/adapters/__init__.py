"""The export service's adapters: read model, streams, feeds, RPC endpoints."""
