"""What the gateway does when the system starts: read models, then the first org on an
empty database (its admin token is printed once)."""

from __future__ import annotations

from preflog_messaging.runtime import Runtime

from preflog_gateway.gateway import gateway_parts


async def on_start(runtime: Runtime) -> list[str]:
    """Start the gateway's loops; bootstrap an empty database. Lines to print for the operator."""
    parts = gateway_parts(runtime)
    await parts.start()
    settings = runtime.settings
    created = await parts.accounts.bootstrap(
        org_name=settings.bootstrap_org_name,
        admin_email=settings.bootstrap_admin_email,
        token_secret=settings.bootstrap_token or None,
    )
    if created is None:
        return []
    lines = [
        f"Created organization {created.organization.name!r} and admin {created.admin.email}"
        " (platform operator).",
    ]
    if settings.bootstrap_token:
        lines.append("Admin token: the value of PREFLOG_BOOTSTRAP_TOKEN.")
    else:
        lines.append(f"Admin token (shown once, keep it): {created.token.secret}")
    lines.append("Use it as: Authorization: Bearer <token>")
    return lines
