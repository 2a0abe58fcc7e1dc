"""Wake-ups when a project's export items change, from Postgres LISTEN/NOTIFY.

The read model notifies inside its transaction, so the wake-up arrives after the commit and
on every instance of the service, whichever instance applied the event.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog

from preflog_eventstore import sleep_or_stop

log = structlog.get_logger(__name__)


class ChangeSignal:
    def __init__(self, pool: asyncpg.Pool, channel: str) -> None:
        self.pool = pool
        self.channel = channel
        self._projects: dict[str, asyncio.Event] = {}
        self._any = asyncio.Event()
        self.listening = asyncio.Event()

    def watch(self, project_id: str) -> asyncio.Event:
        """An event set at the next change of the project. Take it BEFORE reading, so a
        change committed between the read and the wait still wakes the reader."""
        event = self._projects.get(project_id)
        if event is None or event.is_set():
            event = self._projects[project_id] = asyncio.Event()
        return event

    def watch_any(self) -> asyncio.Event:
        """An event set at the next change of any project (cleared by the caller)."""
        return self._any

    def _notify(self, project_id: str | None) -> None:
        self._any.set()
        if project_id is None:
            for event in self._projects.values():
                event.set()
            self._projects.clear()
            return
        waiting = self._projects.pop(project_id, None)
        if waiting is not None:
            waiting.set()

    def _on_notification(self, conn: object, pid: int, channel: str, payload: object) -> None:
        self._notify(str(payload))

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop``; after a lost connection, wake everyone (changes may have
        been missed) and listen again."""
        while not stop.is_set():
            try:
                async with self.pool.acquire() as conn:
                    await conn.add_listener(self.channel, self._on_notification)
                    self.listening.set()
                    self._notify(None)
                    try:
                        while not stop.is_set():
                            await sleep_or_stop(stop, 5.0)
                            await conn.execute("select 1")  # notices a dead connection
                    finally:
                        self.listening.clear()
                        with contextlib.suppress(Exception):
                            await conn.remove_listener(self.channel, self._on_notification)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("export.listen_retry", error=repr(exc))
                await sleep_or_stop(stop, 0.5)
