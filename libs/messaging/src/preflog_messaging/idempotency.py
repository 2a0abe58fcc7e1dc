"""A command's idempotency key (API.md, "Idempotency"): the same key from the same user
answers with the first result and appends nothing new.

A command checks the key before deciding. A repeat that arrives while the first call is
still running passes that check, and decides after the first has committed: on state the
first call changed, so it is refused (a second skip, a second resolve) or conflicts. Each
command therefore checks the key again when it is refused, and answers with the first
result when it is there by then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from preflog_contracts.errors import PreflogError
from preflog_messaging.rpc import CallContext

T = TypeVar("T")

FirstResult = Callable[[str, str, str], Awaitable[tuple[bool, Any]]]
"""``(org_id, actor_id, key) -> (seen, first result)``, e.g. ``EventStore.stored_result``."""


async def once_per_key(
    ctx: CallContext,
    first_result: FirstResult,
    result_type: Any,
    command: Callable[[], Awaitable[T]],
) -> T:
    """``command()``, unless the caller's idempotency key was used: then the first result,
    as ``result_type``, whether it was stored before this call or while it ran."""
    key = ctx.idempotency_key
    if key is None or ctx.identity is None:
        return await command()
    ident = ctx.identity

    async def first() -> tuple[bool, T]:
        seen, result = await first_result(ident.org_id, ident.user_id, key)
        return seen, (msgspec.convert(result, result_type) if seen else None)  # type: ignore[return-value]

    seen, result = await first()
    if seen:
        return result
    try:
        return await command()
    except PreflogError:
        seen, result = await first()
        if seen:
            return result
        raise
