"""The gateway's HTTP transport writes a response's head and body with one write, in order,
and never keeps bytes past the loop's turn or past a close. (Through uvicorn, over HTTP and
WebSocket, it is exercised by every end-to-end test: ``preflog up`` serves with it.)"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from preflog_gateway.http_protocol import CoalescingTransport


class Recorded:
    """The socket's side of the transport: what was written, and when it was closed."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(bytes(data))

    def close(self) -> None:
        self.calls.append("close")
        self.closing = True

    def abort(self) -> None:
        self.calls.append("abort")
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 8000) if name == "sockname" else None


def coalescing() -> tuple[CoalescingTransport, Recorded]:
    inner = Recorded()
    return CoalescingTransport(cast(asyncio.Transport, inner), asyncio.get_running_loop()), inner


async def test_head_and_body_written_together_and_at_once() -> None:
    transport, inner = coalescing()
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert inner.calls == []
    assert transport.get_write_buffer_size() == 38
    transport.write(memoryview(b"{}"))
    # no turn of the loop needed: the body took the head along
    assert inner.calls == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    await asyncio.sleep(0)
    assert len(inner.calls) == 1


async def test_a_lone_write_goes_out_by_the_end_of_the_turn() -> None:
    transport, inner = coalescing()
    transport.write(b"a")
    transport.write(b"b")
    transport.write(b"c")
    assert inner.calls == [b"ab"]
    await asyncio.sleep(0)
    assert inner.calls == [b"ab", b"c"]
    transport.write(b"")
    await asyncio.sleep(0)
    assert inner.calls == [b"ab", b"c"]


async def test_close_writes_what_is_held_first_and_abort_drops_it() -> None:
    transport, inner = coalescing()
    transport.write(b"last")
    transport.close()
    assert inner.calls == [b"last", "close"]
    await asyncio.sleep(0)
    assert inner.calls == [b"last", "close"]

    transport, inner = coalescing()
    transport.write(b"never")
    transport.abort()
    await asyncio.sleep(0)
    assert inner.calls == ["abort"]


async def test_everything_else_is_the_real_transports() -> None:
    transport, _ = coalescing()
    assert transport.get_extra_info("sockname") == ("127.0.0.1", 8000)
    assert transport.is_closing() is False
