"""DataLoaders, made fresh for each request so nothing leaks between callers.

Each loader turns the many lookups of one query level into one batched call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from preflog_gateway.accounts.records import UserRecord

if TYPE_CHECKING:
    from preflog_gateway.graphql.context import GatewayContext


class Loaders:
    def __init__(self, ctx: GatewayContext) -> None:
        self._ctx = ctx
        self.users: DataLoader[str, UserRecord | None] = DataLoader(self._load_users)

    async def _load_users(self, ids: Sequence[str]) -> list[UserRecord | None]:
        ctx = self._ctx
        found = await ctx.gateway.accounts.users_by_ids(ctx.identity.org_id, list(ids))
        return [found.get(i) for i in ids]
