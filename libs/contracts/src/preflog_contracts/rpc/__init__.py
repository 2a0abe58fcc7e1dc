"""Request and response structs of each service's RPC operations (one module per service)."""
