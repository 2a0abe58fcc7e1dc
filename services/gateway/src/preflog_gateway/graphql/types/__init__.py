"""GraphQL object types, inputs and enums of API.md, grouped by the service that owns them."""
