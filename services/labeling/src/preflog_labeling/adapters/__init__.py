"""Adapters: RPC endpoints, consumers, projections and SQL of the labeling service."""
