"""What the gateway does when the system starts: read models, then the first org on an
empty database (its admin token is printed once) and, with ``load_demo``, the demo data."""

from __future__ import annotations

import structlog

from preflog_contracts.errors import PreflogError
from preflog_contracts.identity import Identity
from preflog_gateway.demo import DemoLoader, identity_of
from preflog_gateway.gateway import gateway_parts
from preflog_messaging.runtime import Runtime

log = structlog.get_logger(__name__)


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
        parts.started = True
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
    if settings.load_demo:
        lines.extend(await first_run_demo(runtime, identity_of(created.admin)))
    parts.started = True
    return lines


async def first_run_demo(runtime: Runtime, admin: Identity) -> list[str]:
    """Load the demo on a just-bootstrapped database; a failure (services not up yet) is
    reported, not raised: the gateway runs either way and ``preflog demo`` loads it later."""
    try:
        summary = await DemoLoader(runtime, gateway_parts(runtime).accounts, admin).load()
    except PreflogError as exc:
        log.warning("demo.not_loaded", code=exc.code.value, reason=exc.message)
        return [f"Demo data not loaded ({exc.message}); run `preflog demo` when all is up."]
    return summary.lines()
