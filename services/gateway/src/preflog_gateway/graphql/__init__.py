"""The GraphQL API (API.md): schema, context, errors, limits and live events."""
