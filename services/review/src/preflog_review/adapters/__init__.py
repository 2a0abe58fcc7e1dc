"""Review adapters: SQL read models, the JetStream intake, the projection, RPC endpoints."""
