"""Account commands (load, decide, append) and lookups on the accounts read model.

Account commands are rare, so they are serialised with one advisory lock: that makes the
"email not taken yet" check and the bootstrap "no organization yet" check race-free across
gateway instances without a uniqueness stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator

import asyncpg

from preflog_contracts.envelope import Metadata, stream_name
from preflog_contracts.errors import Conflict, NotFound
from preflog_contracts.events.accounts import (
    ApiTokenIssued,
    ApiTokenRevoked,
    OrganizationCreated,
    UserCreated,
)
from preflog_contracts.identity import SYSTEM_ACTOR, Identity
from preflog_eventstore import NO_STREAM, AppendResult, EventStore, ProjectionRunner, StreamWrite
from preflog_eventstore.conn import Conn
from preflog_gateway.accounts import domain
from preflog_gateway.accounts.projection import AccountsProjection
from preflog_gateway.accounts.records import (
    IssuedToken,
    NewOrganization,
    OrganizationRecord,
    TokenRecord,
    UserRecord,
)

_ACCOUNTS_LOCK = 7_305_007
_USER_COLUMNS = "user_id::text, org_id::text, email, name, org_role, is_operator, created_at"


def new_secret() -> str:
    """A fresh token secret: the prefix and 256 random bits."""
    return domain.TOKEN_PREFIX + secrets.token_urlsafe(32)


def _user(row: asyncpg.Record) -> UserRecord:
    return UserRecord(
        user_id=row["user_id"],
        org_id=row["org_id"],
        email=row["email"],
        name=row["name"],
        org_role=row["org_role"],
        is_operator=row["is_operator"],
        created_at=row["created_at"],
    )


def _token(row: asyncpg.Record) -> TokenRecord:
    return TokenRecord(
        token_id=row["token_id"],
        user_id=row["user_id"],
        org_id=row["org_id"],
        name=row["name"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


def _metadata(
    actor: Identity | None, role: str, correlation_id: str, user_agent: str | None = None
) -> Metadata:
    if actor is None:
        return Metadata(
            actor_id=SYSTEM_ACTOR,
            actor_role="SYSTEM",
            correlation_id=correlation_id,
            user_agent=user_agent,
        )
    return Metadata(
        actor_id=actor.user_id,
        actor_role=role,
        correlation_id=correlation_id,
        user_agent=user_agent,
    )


class Accounts:
    """Organizations, users and tokens. Every method checks the actor's rights itself."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.pool = store.pool
        self.runner = ProjectionRunner(store, AccountsProjection())

    # -- commands ---------------------------------------------------------------------

    async def create_organization(
        self,
        actor: Identity | None,
        *,
        name: str,
        admin_email: str,
        admin_name: str,
        operator: bool = False,
        token_secret: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str = "",
        user_agent: str | None = None,
    ) -> NewOrganization:
        """A new org, its first admin and the admin's first token (secret returned once).

        Operators only (``actor=None`` is the system at bootstrap). Raises Conflict if the
        email is taken, or if the actor's ``idempotency_key`` made an organization already
        (its token cannot be shown again).
        """
        org_id, user_id, token_id = (str(uuid.uuid4()) for _ in range(3))
        org, admin = domain.create_organization(
            actor,
            org_id=org_id,
            name=name,
            admin_user_id=user_id,
            admin_email=admin_email,
            admin_name=admin_name,
            operator=operator,
        )
        secret = token_secret or new_secret()
        token = domain.issue_token(
            None, owner_id=user_id, owner_org=org_id, token_id=token_id, name="admin", secret=secret
        )
        # The events go to the new org; the key is the actor's, kept in theirs.
        key = (
            None
            if actor is None or idempotency_key is None
            else (actor.org_id, actor.user_id, idempotency_key)
        )
        async with self._exclusive() as conn:
            async with conn.transaction():
                if key is not None and (await self.store.stored_result(*key, conn=conn))[0]:
                    raise Conflict(
                        "this organization was created already; its admin token is shown only once"
                    )
                await self._ensure_email_free(conn, admin.email)
                appended = await self._append_new(
                    conn, org_id, org, admin, token, actor, correlation_id, user_agent
                )
                if key is not None:
                    await self.store.keep_result(*key, {"org_id": org_id}, conn=conn)
            await self._settle(appended)
        return NewOrganization(
            organization=OrganizationRecord(org_id=org_id, name=org.name),
            admin=UserRecord(
                user_id=user_id,
                org_id=org_id,
                email=admin.email,
                name=admin.name,
                org_role="ADMIN",
                is_operator=admin.is_operator,
            ),
            token=IssuedToken(token_id=token_id, secret=secret),
        )

    async def bootstrap(
        self, *, org_name: str, admin_email: str, token_secret: str | None
    ) -> NewOrganization | None:
        """On a log with no organization: the first org, an operator admin and a token.

        Returns None when any organization exists already (then it does nothing).
        """
        org_id, user_id, token_id = (str(uuid.uuid4()) for _ in range(3))
        org, admin = domain.create_organization(
            None,
            org_id=org_id,
            name=org_name,
            admin_user_id=user_id,
            admin_email=admin_email,
            admin_name="Admin",
            operator=True,
        )
        secret = token_secret or new_secret()
        token = domain.issue_token(
            None,
            owner_id=user_id,
            owner_org=org_id,
            token_id=token_id,
            name="bootstrap",
            secret=secret,
        )
        async with self._exclusive() as conn:
            async with conn.transaction():
                exists = await conn.fetchval(
                    "select exists(select 1 from eventlog.events where category = 'org')"
                )
                if exists:
                    return None
                appended = await self._append_new(
                    conn, org_id, org, admin, token, None, "bootstrap", None
                )
            await self._settle(appended)
        return NewOrganization(
            organization=OrganizationRecord(org_id=org_id, name=org.name),
            admin=UserRecord(
                user_id=user_id,
                org_id=org_id,
                email=admin.email,
                name=admin.name,
                org_role="ADMIN",
                is_operator=True,
            ),
            token=IssuedToken(token_id=token_id, secret=secret),
        )

    async def create_user(
        self,
        actor: Identity,
        *,
        email: str,
        name: str,
        org_role: str = "MEMBER",
        idempotency_key: str | None = None,
        correlation_id: str = "",
        user_agent: str | None = None,
    ) -> UserRecord:
        """A user in the actor's org (org admins). Raises Conflict if the email is taken;
        a repeated idempotency key returns the first user."""
        user_id = str(uuid.uuid4())
        event = domain.create_user(
            actor, user_id=user_id, email=email, name=name, org_role=org_role
        )
        async with self._exclusive() as conn:
            async with conn.transaction():
                if idempotency_key is None:
                    await self._ensure_email_free(conn, event.email)
                appended = await self.store.append(
                    StreamWrite(stream_name(UserCreated.category, user_id), [event], NO_STREAM),
                    org_id=actor.org_id,
                    metadata=_metadata(actor, "ADMIN", correlation_id, user_agent),
                    idempotency_key=idempotency_key,
                    result={"user_id": user_id},
                    conn=conn,
                )
                if appended.duplicate:
                    user_id = appended.result["user_id"]
                elif idempotency_key is not None:
                    await self._ensure_email_free(conn, event.email)
            await self._settle(appended)
        if appended.duplicate:
            return await self.user(actor, user_id)
        return UserRecord(
            user_id=user_id,
            org_id=actor.org_id,
            email=event.email,
            name=event.name,
            org_role=event.org_role,
        )

    async def issue_token(
        self,
        actor: Identity | None,
        *,
        user_id: str,
        name: str,
        idempotency_key: str | None = None,
        correlation_id: str = "",
        user_agent: str | None = None,
    ) -> IssuedToken:
        """A new token for ``user_id`` (an admin of the user's org; ``None`` = the operator's
        command line). The secret is returned once; a repeated idempotency key answers
        Conflict because the secret cannot be shown again."""
        owner = await self._user_row(user_id)
        if owner is None or (actor is not None and owner.org_id != actor.org_id):
            raise NotFound("no such user")
        token_id = str(uuid.uuid4())
        secret = new_secret()
        event = domain.issue_token(
            actor,
            owner_id=owner.user_id,
            owner_org=owner.org_id,
            token_id=token_id,
            name=name,
            secret=secret,
        )
        appended = await self.store.append(
            StreamWrite(stream_name(ApiTokenIssued.category, token_id), [event], NO_STREAM),
            org_id=owner.org_id,
            metadata=_metadata(actor, "ADMIN", correlation_id, user_agent),
            idempotency_key=idempotency_key,
            result={"token_id": token_id},
        )
        if appended.duplicate:
            raise Conflict("this token was issued already; its secret is shown only once")
        await self._settle(appended)
        return IssuedToken(token_id=token_id, secret=secret)

    async def revoke_token(
        self,
        actor: Identity,
        *,
        token_id: str,
        idempotency_key: str | None = None,
        correlation_id: str = "",
        user_agent: str | None = None,
    ) -> bool:
        """Revoke a token of the actor's org (its owner or an admin). True once revoked;
        revoking a revoked token is a no-op that answers True."""
        token = await self.token(actor, token_id)
        event = domain.revoke_token(actor, token_id=token.token_id, owner_id=token.user_id)
        if token.revoked_at is None:
            appended = await self.store.append(
                StreamWrite(stream_name(ApiTokenRevoked.category, token_id), [event]),
                org_id=actor.org_id,
                metadata=_metadata(actor, actor.org_role, correlation_id, user_agent),
                idempotency_key=idempotency_key,
                result=True,
            )
            await self._settle(appended)
        return True

    # -- lookups ----------------------------------------------------------------------

    async def user(self, actor: Identity, user_id: str) -> UserRecord:
        """A user of the actor's org; NotFound otherwise (same answer as a missing id)."""
        found = await self._user_row(user_id)
        if found is None or found.org_id != actor.org_id:
            raise NotFound("no such user")
        return found

    async def users(self, actor: Identity) -> list[UserRecord]:
        rows = await self.pool.fetch(
            f"select {_USER_COLUMNS} from gateway.users where org_id = $1::uuid"
            " order by created_at, email",
            actor.org_id,
        )
        return [_user(r) for r in rows]

    async def users_by_ids(self, org_id: str, user_ids: list[str]) -> dict[str, UserRecord]:
        """Users of one org by id (ids of other orgs or malformed ids are left out)."""
        wanted = [u for u in user_ids if _is_uuid(u)]
        rows = await self.pool.fetch(
            f"select {_USER_COLUMNS} from gateway.users"
            " where org_id = $1::uuid and user_id = any($2::uuid[])",
            org_id,
            wanted,
        )
        return {r["user_id"]: _user(r) for r in rows}

    async def find_user_by_email(self, email: str) -> UserRecord | None:
        row = await self.pool.fetchrow(
            f"select {_USER_COLUMNS} from gateway.users where lower(email) = $1"
            " order by created_at limit 1",
            domain.normalise_email(email),
        )
        return None if row is None else _user(row)

    async def organization(self, org_id: str) -> OrganizationRecord | None:
        row = await self.pool.fetchrow(
            "select org_id::text, name from gateway.organizations where org_id = $1::uuid", org_id
        )
        return None if row is None else OrganizationRecord(org_id=row[0], name=row[1])

    async def token(self, actor: Identity, token_id: str) -> TokenRecord:
        rows = (
            await self._token_rows("t.token_id = $1::uuid", token_id) if _is_uuid(token_id) else []
        )
        if not rows or rows[0].org_id != actor.org_id:
            raise NotFound("no such token")
        return rows[0]

    async def tokens_of(self, actor: Identity, user_id: str) -> list[TokenRecord]:
        """Tokens of a user: the user themself or an org admin; others see none."""
        if not (actor.is_admin or actor.user_id == user_id) or not _is_uuid(user_id):
            return []
        rows = await self._token_rows("t.user_id = $1::uuid", user_id)
        return [t for t in rows if t.org_id == actor.org_id]

    # -- internals --------------------------------------------------------------------

    async def _settle(self, appended: AppendResult) -> None:
        """Fold until the read model holds ``appended`` (read-your-writes for the caller).

        The gap-safe reader may not see a commit while an older transaction is still open, so
        one catch-up is not enough: retry briefly until the checkpoint passes our events.
        """
        if not appended.events:
            return
        last = max(e.global_position for e in appended.events)
        row = await self.pool.fetchrow(
            "select tx_id::text::bigint from eventlog.events where global_position = $1", last
        )
        if row is None:
            return
        mine = (row[0], last)
        for attempt in range(200):
            await self.runner.catch_up()
            seen = await self.pool.fetchrow(
                "select tx_id::text::bigint, global_position from eventlog.checkpoints"
                " where name = $1",
                self.runner.checkpoint_name,
            )
            if seen is not None and (seen[0], seen[1]) >= mine:
                return
            await asyncio.sleep(0.005 * min(attempt + 1, 10))

    async def _token_rows(self, where: str, value: str) -> list[TokenRecord]:
        rows = await self.pool.fetch(
            "select t.token_id::text, t.user_id::text, t.org_id::text, t.name, t.prefix,"
            " t.created_at, t.revoked_at, u.last_used_at from gateway.api_tokens t"
            " left join gateway.token_usage u using (token_id)"
            f" where {where} order by t.created_at",
            value,
        )
        return [_token(r) for r in rows]

    async def _user_row(self, user_id: str) -> UserRecord | None:
        if not _is_uuid(user_id):
            return None
        row = await self.pool.fetchrow(
            f"select {_USER_COLUMNS} from gateway.users where user_id = $1::uuid", user_id
        )
        return None if row is None else _user(row)

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[Conn]:
        """A connection holding the accounts lock until the caller's events are folded, so
        the next command's checks see them."""
        async with self.pool.acquire() as conn:
            await conn.execute("select pg_advisory_lock($1)", _ACCOUNTS_LOCK)
            try:
                yield conn
            finally:
                await conn.execute("select pg_advisory_unlock($1)", _ACCOUNTS_LOCK)

    async def _ensure_email_free(self, conn: Conn, email: str) -> None:
        taken = await conn.fetchval(
            "select exists(select 1 from gateway.users where lower(email) = $1)", email
        )
        if taken:
            raise Conflict("a user with this email exists already")

    async def _append_new(
        self,
        conn: Conn,
        org_id: str,
        org: OrganizationCreated,
        admin: UserCreated,
        token: ApiTokenIssued,
        actor: Identity | None,
        correlation_id: str,
        user_agent: str | None,
    ) -> AppendResult:
        return await self.store.append(
            [
                StreamWrite(stream_name(OrganizationCreated.category, org_id), [org], NO_STREAM),
                StreamWrite(stream_name(UserCreated.category, admin.user_id), [admin], NO_STREAM),
                StreamWrite(
                    stream_name(ApiTokenIssued.category, token.token_id), [token], NO_STREAM
                ),
            ],
            org_id=org_id,
            metadata=_metadata(actor, "OPERATOR", correlation_id, user_agent),
            conn=conn,
        )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True
