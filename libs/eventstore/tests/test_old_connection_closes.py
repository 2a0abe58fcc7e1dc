"""A failed close of a connection the pool already replaced is one log line, not an error
report; every other exception nobody retrieved is still reported."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from preflog_eventstore import db


class Connection:
    """Stands in for asyncpg's: what matters is the close coroutine's name."""

    async def close(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


async def _broken() -> None:
    raise ValueError("a real bug")


async def _left_unretrieved(coro: Any) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert task.done()
    del task
    gc.collect()


async def test_only_a_failed_close_of_an_old_connection_is_quiet() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    before = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        db._quiet_stale_closes(loop)
        db._quiet_stale_closes(loop)  # once per loop: not wrapped twice
        await _left_unretrieved(Connection().close())
        assert reported == []
        await _left_unretrieved(_broken())
        assert [type(c.get("exception")) for c in reported] == [ValueError]
    finally:
        loop.set_exception_handler(before)
