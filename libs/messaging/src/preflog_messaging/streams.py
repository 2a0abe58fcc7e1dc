"""Streams of bytes over NATS with credit-based back-pressure.

A stream is opened with an ordinary signed RPC (so identity checks, typed errors, metrics and
queue groups are :class:`~preflog_messaging.rpc.RpcServer`'s): the request names the
caller's inbox and an initial credit window; the handler validates and returns an async
iterator of byte chunks, or raises a :class:`PreflogError` which the caller receives as the
RPC's error before any chunk. The serving instance then publishes frames to the inbox:

- ``chunk`` (numbered 1, 2, ...): one piece of the byte stream; each costs one credit;
- ``end`` / ``error`` (numbered too): the last frame; ``error`` carries a typed error;
- ``ping`` (not numbered, free): the server is alive but has nothing to send.

The caller grants credit on the stream's control subject as its consumer drains chunks, and
sends an empty grant every few seconds while it is alive. A server without credit waits; it
gives up (and closes the handler's iterator, running its ``finally`` blocks) when the caller
has been silent for ``client_timeout`` seconds or sent ``cancel``. So a slow reader holds at
most ``window`` chunks in flight and nothing piles up on the server.

Server side::

    streams = StreamServer(rpc_server)
    streams.register("export", ExportRequest, handler)   # async (ctx, req) -> AsyncIterator[bytes]
    parts.loops.append(streams.run)                      # cancels open streams at shutdown

Caller side::

    async for chunk in stream_call(runtime.rpc, "export", "export", body, ctx=ctx):
        ...   # chunks concatenate to the handler's byte stream, in order
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from preflog_contracts.errors import Invalid, PreflogError, Unavailable
from preflog_messaging.rpc import CallContext, RpcClient, RpcFailure, RpcServer, validation_fields

log = structlog.get_logger(__name__)
T = TypeVar("T")

KIND_HEADER = "Preflog-Stream"
SEQ_HEADER = "Preflog-Seq"

StreamHandler = Callable[[CallContext, Any], Awaitable[AsyncIterator[bytes]]]


class StreamOpen(msgspec.Struct, frozen=True, kw_only=True):
    """The RPC body opening a stream: where to send frames, how many chunks may be in flight,
    and the operation's own request."""

    inbox: str
    credit: int
    body: msgspec.Raw


class StreamOpened(msgspec.Struct, frozen=True, kw_only=True):
    stream_id: str
    control: str  # where the caller sends StreamControl messages


class StreamControl(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """From caller to server: more credit (0 is a keep-alive) or cancel."""

    credit: int = 0
    cancel: bool = False


_encoder = msgspec.json.Encoder()
_control_decoder = msgspec.json.Decoder(StreamControl)
_failure_decoder = msgspec.json.Decoder(RpcFailure)


def streams_subject(namespace: str, service: str, instance: str) -> str:
    """Control subjects of one serving instance (one wildcard subscription serves them all)."""
    return f"{namespace}.streams.{service}.{instance}"


def decode_request(decoder: msgspec.json.Decoder[T], request_type: type[Any], raw: bytes) -> T:
    """Decode an operation's request; bad input is :class:`Invalid` naming the field, and an
    unknown field lists the valid ones."""
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        fields = validation_fields(exc)
        if "unknown field" in str(exc):
            valid = ", ".join(getattr(request_type, "__struct_fields__", ()))
            fields = {key: f"{message}; valid fields: {valid}" for key, message in fields.items()}
        raise Invalid("invalid input", fields) from None


@dataclass
class _Stream:
    stream_id: str
    inbox: str
    credit: int
    last_heard: float
    last_sent: float
    seq: int = 0
    task: asyncio.Task[None] | None = None
    granted: asyncio.Event = field(default_factory=asyncio.Event)


class StreamServer:
    """Serves streaming operations of one service, on top of its :class:`RpcServer`."""

    def __init__(
        self,
        rpc: RpcServer,
        *,
        max_chunk_bytes: int = 256 * 1024,
        client_timeout: float = 30.0,
        ping_interval: float = 5.0,
    ) -> None:
        self.rpc = rpc
        self.nc: Client = rpc.nc
        self.instance = uuid.uuid4().hex
        self.max_chunk_bytes = max_chunk_bytes
        self.client_timeout = client_timeout
        self.ping_interval = ping_interval
        self._streams: dict[str, _Stream] = {}
        self._sub: Subscription | None = None
        self._subscribing = asyncio.Lock()
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def register(
        self,
        operation: str,
        request_type: type[T],
        handler: Callable[[CallContext, T], Awaitable[AsyncIterator[bytes]]],
    ) -> None:
        """Serve ``operation``: ``handler(ctx, request)`` validates (raising PreflogError,
        which the caller gets instead of a stream) and returns the chunks to send."""
        decoder = msgspec.json.Decoder(request_type)

        async def open_stream(ctx: CallContext, req: StreamOpen) -> StreamOpened:
            if req.credit < 1:
                raise Invalid("credit must be at least 1", {"credit": "at least 1"})
            request = decode_request(decoder, request_type, req.body)
            chunks = await handler(ctx, request)
            return await self._start(req, chunks)

        self.rpc.register(operation, StreamOpen, open_stream)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` (a ServiceParts loop); then cancel every open stream."""
        try:
            await stop.wait()
        finally:
            await self.close()

    async def close(self) -> None:
        tasks = [s.task for s in self._streams.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _ensure_subscribed(self) -> None:
        async with self._subscribing:
            if self._sub is None:
                subject = streams_subject(self.rpc.namespace, self.rpc.service, self.instance)
                self._sub = await self.nc.subscribe(f"{subject}.*", cb=self._on_control)
            if self._watchdog is None:
                self._watchdog = asyncio.create_task(self._watch())

    async def _start(self, req: StreamOpen, chunks: AsyncIterator[bytes]) -> StreamOpened:
        await self._ensure_subscribed()
        now = time.monotonic()
        stream = _Stream(uuid.uuid4().hex, req.inbox, req.credit, now, now)
        self._streams[stream.stream_id] = stream
        stream.task = asyncio.create_task(self._pump(stream, chunks))
        subject = streams_subject(self.rpc.namespace, self.rpc.service, self.instance)
        return StreamOpened(stream_id=stream.stream_id, control=f"{subject}.{stream.stream_id}")

    async def _on_control(self, msg: Msg) -> None:
        stream = self._streams.get(msg.subject.rsplit(".", 1)[-1])
        if stream is None:
            return
        try:
            control = _control_decoder.decode(msg.data)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return
        stream.last_heard = time.monotonic()
        if control.cancel:
            if stream.task is not None:
                stream.task.cancel()
            return
        if control.credit > 0:
            stream.credit += control.credit
            stream.granted.set()

    async def _pump(self, stream: _Stream, chunks: AsyncIterator[bytes]) -> None:
        try:
            async for chunk in chunks:
                view = memoryview(chunk)
                for start in range(0, len(view), self.max_chunk_bytes):
                    while stream.credit <= 0:
                        stream.granted.clear()
                        await stream.granted.wait()
                    stream.credit -= 1
                    await self._send(
                        stream, "chunk", bytes(view[start : start + self.max_chunk_bytes])
                    )
            await self._send(stream, "end", b"")
        except asyncio.CancelledError:
            log.info("stream.stopped", stream=stream.stream_id, sent=stream.seq)
        except PreflogError as exc:
            await self._send_error(
                stream, RpcFailure(code=exc.code.value, message=exc.message, fields=exc.fields)
            )
        except Exception:
            log.exception("stream.failed", stream=stream.stream_id)
            await self._send_error(stream, RpcFailure(code="INTERNAL", message="internal error"))
        finally:
            self._streams.pop(stream.stream_id, None)
            closer = getattr(chunks, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()

    async def _send_error(self, stream: _Stream, failure: RpcFailure) -> None:
        with contextlib.suppress(Exception):
            await self._send(stream, "error", _encoder.encode(failure))

    async def _send(self, stream: _Stream, kind: str, payload: bytes) -> None:
        headers = {KIND_HEADER: kind}
        if kind != "ping":
            stream.seq += 1
            headers[SEQ_HEADER] = str(stream.seq)
        stream.last_sent = time.monotonic()
        await self.nc.publish(stream.inbox, payload, headers=headers)

    async def _watch(self) -> None:
        """Stop streams whose caller went silent; ping callers of streams with nothing to send."""
        tick = min(self.ping_interval, self.client_timeout) / 4
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for stream in list(self._streams.values()):
                if now - stream.last_heard > self.client_timeout:
                    log.info("stream.caller_gone", stream=stream.stream_id)
                    if stream.task is not None:
                        stream.task.cancel()
                elif now - stream.last_sent > self.ping_interval:
                    with contextlib.suppress(Exception):
                        await self._send(stream, "ping", b"")


async def stream_call(
    rpc: RpcClient,
    service: str,
    operation: str,
    body: Any,
    *,
    ctx: CallContext,
    window: int = 16,
    idle_timeout: float = 30.0,
    keepalive_interval: float = 5.0,
) -> AsyncIterator[bytes]:
    """Open ``service.operation`` as a stream and yield its chunks in order.

    Raises the handler's :class:`PreflogError` (before the first chunk when it rejects the
    request, or later from the ``error`` frame), and :class:`Unavailable` when no instance
    answers, when nothing arrives for ``idle_timeout`` seconds, or when a frame was lost.
    Leaving the loop early (``break``, cancellation, ``aclose``) cancels the stream on the
    server. At most ``window`` chunks are in flight; more credit is granted as the caller
    takes chunks, so a slow consumer slows the producer instead of buffering.
    """
    nc = rpc.nc
    frames: asyncio.Queue[Msg] = asyncio.Queue()
    inbox = nc.new_inbox()

    async def enqueue(msg: Msg) -> None:
        frames.put_nowait(msg)

    sub = await nc.subscribe(inbox, cb=enqueue)
    opened: StreamOpened | None = None
    finished = False
    keepalive: asyncio.Task[None] | None = None
    try:
        opened = await rpc.call(
            service,
            operation,
            StreamOpen(inbox=inbox, credit=window, body=msgspec.Raw(_encoder.encode(body))),
            ctx=ctx,
            response_type=StreamOpened,
        )
        control = opened.control

        async def keep_alive() -> None:
            while True:
                await asyncio.sleep(keepalive_interval)
                with contextlib.suppress(Exception):
                    await nc.publish(control, _encoder.encode(StreamControl()))

        keepalive = asyncio.create_task(keep_alive())
        expected = 1
        consumed = 0
        grant_every = max(1, window // 2)
        while True:
            try:
                msg = await asyncio.wait_for(frames.get(), idle_timeout)
            except TimeoutError:
                raise Unavailable(f"the {service} stream went silent; retry later") from None
            headers = msg.headers or {}
            kind = headers.get(KIND_HEADER, "")
            if kind == "ping":
                continue
            if int(headers.get(SEQ_HEADER, "0")) != expected:
                raise Unavailable(f"the {service} stream lost a frame; retry from the last cursor")
            expected += 1
            if kind == "end":
                finished = True
                return
            if kind == "error":
                finished = True
                failure = _failure_decoder.decode(msg.data)
                raise PreflogError.from_code(failure.code, failure.message, failure.fields)
            yield msg.data
            consumed += 1
            if consumed >= grant_every:
                await nc.publish(control, _encoder.encode(StreamControl(credit=consumed)))
                consumed = 0
    finally:
        if keepalive is not None:
            keepalive.cancel()
        if opened is not None and not finished:
            with contextlib.suppress(Exception):
                await nc.publish(opened.control, _encoder.encode(StreamControl(cancel=True)))
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
