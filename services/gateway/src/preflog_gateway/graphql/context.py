"""Per-request GraphQL context: who calls, how to call services, per-request loaders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from preflog_contracts.errors import Unauthenticated
from preflog_contracts.identity import Identity
from preflog_gateway.accounts.authenticate import Authenticated, Authenticator
from preflog_gateway.accounts.handlers import Accounts
from preflog_gateway.graphql.loaders import Loaders
from preflog_gateway.limits import RateLimiter
from preflog_messaging.rpc import CallContext
from preflog_messaging.runtime import Runtime

R = TypeVar("R")


@dataclass
class Gateway:
    """What every request shares: the runtime and the gateway's own components."""

    runtime: Runtime
    accounts: Accounts
    authenticator: Authenticator
    rate_limiter: RateLimiter


@dataclass
class GatewayContext:
    """``info.context`` of every resolver. ``auth`` is None until a token was checked;
    :attr:`identity` raises UNAUTHENTICATED then."""

    gateway: Gateway
    auth: Authenticated | None = None
    user_agent: str | None = None
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    loaders: Loaders = field(init=False)
    # Filled in by the HTTP integration (request/response or websocket) and by connection_init.
    request: Any = None
    response: Any = None
    websocket: Any = None
    connection_params: dict[str, Any] | None = None
    prepaid: int = 0
    """Requests' worth already counted against the token's rate for the next operation (an
    HTTP request counts one when admitted; a WebSocket operation, none)."""
    connection: bool = False
    """The context of a WebSocket connection: each operation on it runs in a copy of its own
    (:meth:`for_operation`)."""

    def __post_init__(self) -> None:
        self.loaders = Loaders(self)

    def for_operation(self) -> GatewayContext:
        """A context for one operation of this connection: its caller, its own correlation id
        and fresh loaders. The connection's loaders would answer a query with what an earlier
        operation read, however long ago (they cache for as long as they live)."""
        return replace(self, correlation_id=str(uuid.uuid4()), connection=False, prepaid=0)

    @property
    def runtime(self) -> Runtime:
        return self.gateway.runtime

    @property
    def identity(self) -> Identity:
        if self.auth is None:
            raise Unauthenticated("missing, unknown or revoked API token")
        return self.auth.identity

    def call_context(self, idempotency_key: str | None = None) -> CallContext:
        return CallContext(
            identity=self.identity,
            correlation_id=self.correlation_id,
            idempotency_key=idempotency_key,
            user_agent=self.user_agent,
        )

    async def call(
        self,
        service: str,
        operation: str,
        body: Any,
        *,
        response_type: type[R],
        idempotency_key: str | None = None,
    ) -> R:
        """Call a service as the authenticated caller (identity signed by the RPC client), at
        the instance of the service that serves this caller (ADR 0029)."""
        ctx = self.call_context(idempotency_key)
        return await self.runtime.rpc.call(
            service,
            operation,
            body,
            ctx=ctx,
            response_type=response_type,
            affinity=ctx.identity.user_id if ctx.identity is not None else None,
        )
