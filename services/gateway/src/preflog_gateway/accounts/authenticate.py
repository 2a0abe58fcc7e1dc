"""Bearer tokens -> Identity, with a short cache and a throttled last-used record."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import asyncpg
import structlog

from preflog_contracts.errors import Unauthenticated, Unavailable
from preflog_contracts.identity import Identity
from preflog_eventstore import DATABASE_UNAVAILABLE, LostConnections
from preflog_gateway.accounts.domain import token_hash

log = structlog.get_logger(__name__)

_REFUSED = "missing, unknown or revoked API token"

_UNREVOKED_SQL = (
    "select true from gateway.api_tokens where token_id = $1::uuid and revoked_at is null"
)
_TOKEN_SQL = (
    "select t.token_id::text, u.user_id::text, u.org_id::text, u.org_role,"
    " u.is_operator, u.email, u.name from gateway.api_tokens t"
    " join gateway.users u using (user_id)"
    " where t.token_hash = $1 and t.revoked_at is null"
)


@dataclass(frozen=True)
class Authenticated:
    identity: Identity
    token_id: str


class Authenticator:
    """Looks tokens up by their sha256. Positive answers are cached for ``ttl`` seconds, so a
    revocation made in another gateway instance takes effect within ``ttl`` (at once here:
    :meth:`forget` is called on revoke). Last use is written at most every ``usage_interval``."""

    def __init__(
        self, pool: asyncpg.Pool, *, ttl: float = 2.0, usage_interval: float = 30.0
    ) -> None:
        self.pool = pool
        self.lost = LostConnections(pool)
        self.ttl = ttl
        self.usage_interval = usage_interval
        self._cache: dict[str, tuple[float, Authenticated]] = {}
        self._valid: dict[str, float] = {}  # token id -> until when it is known unrevoked
        self._used: dict[str, float] = {}
        self._writes: set[asyncio.Task[None]] = set()

    async def authenticate(self, authorization: str | None) -> Authenticated:
        """The caller behind an ``Authorization: Bearer <token>`` value.

        Raises Unauthenticated with one message for every failure (missing, malformed,
        unknown, revoked), so a caller learns nothing about which it was; Unavailable when
        the database cannot be reached.
        """
        secret = _bearer(authorization)
        if secret is None:
            raise Unauthenticated(_REFUSED)
        digest = token_hash(secret)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            found = cached[1]
        else:
            row = await self._read(_TOKEN_SQL, digest)
            if row is None:
                self._cache.pop(digest, None)
                raise Unauthenticated(_REFUSED)
            found = Authenticated(
                Identity(
                    user_id=row[1],
                    org_id=row[2],
                    org_role=row[3],
                    is_operator=row[4],
                    email=row[5],
                    name=row[6],
                ),
                row[0],
            )
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + self.ttl, found)
        self._record_use(found.token_id, now)
        return found

    async def _read(self, sql: str, key: str) -> asyncpg.Record | None:
        """One row of ``sql`` for ``key``. A read, so it is tried once more when the server
        had ended the connection (pooled connections all die at once in a failover: they
        are replaced first, so the retry gets a new one); UNAVAILABLE if that fails too."""
        for attempt in (1, 2):
            try:
                return await self.pool.fetchrow(sql, key)
            except Exception as exc:
                if not await self.lost.noticed(exc):
                    raise
                log.warning("auth.database_unavailable", attempt=attempt, error=repr(exc))
        raise Unavailable(DATABASE_UNAVAILABLE)

    async def still_valid(self, auth: Authenticated) -> bool:
        """Whether the token ``auth`` came from is still unrevoked (cached for ``ttl``, like
        :meth:`authenticate`), for connections that outlive a request: a subscription checks
        before it delivers each event. UNAVAILABLE when the database cannot say."""
        now = time.monotonic()
        if self._valid.get(auth.token_id, 0.0) > now:
            return True
        if await self._read(_UNREVOKED_SQL, auth.token_id) is None:
            self._valid.pop(auth.token_id, None)
            return False
        if len(self._valid) > 10_000:
            self._valid.clear()
        self._valid[auth.token_id] = now + self.ttl
        return True

    def forget(self, token_id: str) -> None:
        """Drop a token from the cache (after revoking it)."""
        self._valid.pop(token_id, None)
        for digest, (_, auth) in list(self._cache.items()):
            if auth.token_id == token_id:
                self._cache.pop(digest, None)

    def _record_use(self, token_id: str, now: float) -> None:
        if now - self._used.get(token_id, -1e9) < self.usage_interval:
            return
        self._used[token_id] = now
        task = asyncio.create_task(self._write_use(token_id))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write_use(self, token_id: str) -> None:
        try:
            await self.pool.execute(
                "insert into gateway.token_usage (token_id, last_used_at) values ($1::uuid, now())"
                " on conflict (token_id) do update set last_used_at = excluded.last_used_at",
                token_id,
            )
        except Exception as exc:  # best effort: a lost usage stamp must not fail a request
            log.warning("token_usage.write_failed", error=type(exc).__name__)

    async def flush(self) -> None:
        """Wait for pending last-used writes (tests, shutdown)."""
        if self._writes:
            with contextlib.suppress(Exception):
                await asyncio.gather(*list(self._writes))


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not (16 <= len(value) <= 256):
        return None
    return value
