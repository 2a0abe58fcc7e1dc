"""Accounts: organizations, users and API tokens. The gateway owns them because it is the
component that authenticates (docs/adr/0007-gateway-accounts.md)."""
