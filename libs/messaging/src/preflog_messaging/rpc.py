"""Service calls over NATS request/reply.

Subjects are ``<ns>.rpc.<service>.<operation>``; every instance of a service joins the queue
group named after it, so adding instances adds throughput. A caller may instead name an
affinity key (the gateway passes the user): the call then goes to the instance the key maps to
among the live ones (``<ns>.rpc.<service>.i.<instance>.<operation>``), so one user's calls meet
the caches their earlier calls filled (ADR 0029). The caller's identity travels in
the request with an HMAC signature over it: a service acts only on an identity the gateway
(or another holder of the internal secret) signed. Errors travel as typed results and are
raised again on the caller's side as the same :class:`PreflogError` subclass.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from preflog_contracts.envelope import Metadata
from preflog_contracts.errors import (
    Forbidden,
    Invalid,
    PreflogError,
    Unauthenticated,
    Unavailable,
)
from preflog_contracts.identity import Identity
from preflog_contracts.text import NUL_REFUSED, nul_path
from preflog_eventstore import DATABASE_UNAVAILABLE, LostConnections, connection_lost
from preflog_observability.metrics import (
    RPC_AFFINITY_FALLBACKS,
    RPC_CLIENT_LATENCY,
    RPC_LATENCY,
    RPC_REQUESTS,
    Children,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class CallContext(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who calls and why; handlers take it first. ``identity`` is None only for system calls."""

    identity: Identity | None = None
    correlation_id: str = ""
    idempotency_key: str | None = None
    user_agent: str | None = None

    def require_identity(self) -> Identity:
        if self.identity is None:
            raise Unauthenticated("authentication required")
        return self.identity

    def metadata(self, actor_role: str, **scope: str | None) -> Metadata:
        """Event metadata for an action taken in this call, in ``actor_role``."""
        ident = self.require_identity()
        return Metadata(
            actor_id=ident.user_id,
            actor_role=actor_role,
            correlation_id=self.correlation_id,
            idempotency_key=self.idempotency_key,
            user_agent=self.user_agent,
            project_id=scope.get("project_id"),
            task_id=scope.get("task_id"),
            label_id=scope.get("label_id"),
        )


def scoped_key(operation: str, key: str | None) -> str | None:
    """An idempotency key as stored: the client's key within one operation. The same key
    sent to another operation is another request (it used to return the first operation's
    result, of another type)."""
    return None if key is None else f"{operation}:{key}"


class RpcRequest(msgspec.Struct, frozen=True, kw_only=True):
    ctx: CallContext
    signature: str
    body: msgspec.Raw


class RpcFailure(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str
    fields: dict[str, str] = {}


class RpcReply(msgspec.Struct, frozen=True, kw_only=True):
    # msgspec.Raw cannot be part of a union, so "no body" is a JSON null inside it.
    body: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))
    error: RpcFailure | None = None


_encoder = msgspec.json.Encoder()
# What decoding bytes nobody checked may raise besides a validation error: malformed JSON,
# nesting too deep, and (msgspec's own) a string that is not UTF-8.
_UNDECODABLE = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)
_request_decoder = msgspec.json.Decoder(RpcRequest)
_reply_decoder = msgspec.json.Decoder(RpcReply)
_any_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
_NUL_ESCAPE = b"\\u0000"


def rpc_subject(namespace: str, service: str, operation: str) -> str:
    return f"{namespace}.rpc.{service}.{operation}"


def instance_subject(namespace: str, service: str, instance: str, operation: str) -> str:
    """One instance's own subject for ``operation`` (the queue group's ``*`` does not match
    it: it has more tokens)."""
    return f"{namespace}.rpc.{service}.i.{instance}.{operation}"


def members_subject(namespace: str, service: str) -> str:
    """Where each instance of ``service`` says it is there (``+<id>``) or leaving (``-<id>``)."""
    return f"{namespace}.members.{service}"


def who_subject(namespace: str, service: str) -> str:
    """Where a caller that starts listening asks the instances of ``service`` to say so."""
    return f"{members_subject(namespace, service)}.who"


HEARTBEAT_SECONDS = 1.0  # how often an instance says it is there
MEMBER_TTL_SECONDS = 3.5  # an instance not heard from for this long is taken for gone
FIRST_ANSWER_SECONDS = 0.25
"""How long the first calls with an affinity key wait for the answer to "who is there" (one
NATS round trip when an instance lives) before they go to the queue group instead."""


def rendezvous(key: str, instances: Iterable[str]) -> str | None:
    """The instance ``key`` goes to: the highest hash of (key, instance). When an instance
    comes or goes, only the keys that were or become its own move."""
    return max(
        instances,
        key=lambda instance: hashlib.blake2b(f"{key}/{instance}".encode(), digest_size=8).digest(),
        default=None,
    )


def sign(secret: str, ctx: CallContext) -> str:
    return hmac.new(secret.encode(), _encoder.encode(ctx), hashlib.sha256).hexdigest()


def validation_fields(exc: msgspec.ValidationError, prefix: str = "") -> dict[str, str]:
    """Turn msgspec's ``... - at `$.a[0].b``` message into ``{"a[0].b": "..."}``."""
    text = str(exc)
    message, _, where = text.partition(" - at `")
    path = where.rstrip("`").removeprefix("$").lstrip(".") if where else ""
    return {(prefix + path) if path else (prefix.rstrip(".") or "input"): message}


Handler = Callable[[CallContext, Any], Awaitable[Any]]


class Ping(msgspec.Struct, frozen=True):
    """Every service answers ``ping``; readiness checks use it."""


async def _pong(ctx: CallContext, req: Ping) -> dict[str, bool]:
    return {"ok": True}


@dataclass
class _Operation:
    request_type: type[Any]
    decoder: msgspec.json.Decoder[Any]
    handler: Handler
    items_checked: str | None


class RpcServer:
    """Answers ``<ns>.rpc.<service>.*`` in the service's queue group, many calls at once."""

    def __init__(
        self,
        nc: Client,
        *,
        namespace: str,
        service: str,
        secret: str,
        concurrency: int = 256,
        lost: LostConnections | None = None,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        """``lost``: the pool the handlers use, told of a lost database connection (so that
        its other dead connections are replaced before the caller retries)."""
        self.nc = nc
        self.namespace = namespace
        self.service = service
        self.secret = secret
        self.lost = lost
        self.instance = uuid.uuid4().hex[:12]
        self.heartbeat = heartbeat
        self._ops: dict[str, _Operation] = {}
        self._subs: list[Subscription] = []
        self._beating: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._counted = Children(RPC_REQUESTS)
        self._timed = Children(RPC_LATENCY)
        self.register("ping", Ping, _pong)

    def register(
        self,
        operation: str,
        request_type: type[T],
        handler: Callable[[CallContext, T], Awaitable[Any]],
        *,
        items_checked: str | None = None,
    ) -> None:
        """A request holding U+0000 anywhere (Postgres stores no such text) is refused whole,
        except in the field ``items_checked``, a list whose items the handler refuses one by
        one itself (an import keeps its good rows)."""
        self._ops[operation] = _Operation(
            request_type, msgspec.json.Decoder(request_type), handler, items_checked
        )

    def _metrics(self, operation: str, outcome: str) -> tuple[Any, Any]:
        """The request counter and latency histogram of this operation and outcome. Subjects
        naming no operation count as ``unknown``, so callers cannot grow the metrics."""
        if operation not in self._ops:
            operation = "unknown"
        return (
            self._counted(self.service, operation, outcome),
            self._timed(self.service, operation),
        )

    @property
    def operations(self) -> list[str]:
        return sorted(self._ops)

    def request_type(self, operation: str) -> type[Any]:
        """The body type ``operation`` decodes its requests into."""
        return self._ops[operation].request_type

    async def start(self) -> None:
        self._subs = [
            await self.nc.subscribe(
                rpc_subject(self.namespace, self.service, "*"),
                queue=self.service,
                cb=self._on_message,
                pending_msgs_limit=100_000,
            ),
            await self.nc.subscribe(
                instance_subject(self.namespace, self.service, self.instance, "*"),
                cb=self._on_message,
                pending_msgs_limit=100_000,
            ),
            # A caller that starts listening asks who is there, so it need not wait for the
            # next heartbeat.
            await self.nc.subscribe(who_subject(self.namespace, self.service), cb=self._say_here),
        ]
        self._beating = asyncio.create_task(self._beat())

    async def _say(self, mark: str) -> None:
        """Say this instance is there (``+``) or leaving (``-``)."""
        await self.nc.publish(
            members_subject(self.namespace, self.service), f"{mark}{self.instance}".encode()
        )

    async def _say_here(self, msg: Msg) -> None:
        with contextlib.suppress(Exception):
            await self._say("+")

    async def _beat(self) -> None:
        """Say this instance is there now and every ``heartbeat`` seconds, for callers with an
        affinity key (a lost publish is made up by the next one)."""
        while True:
            try:
                await self._say("+")
            except Exception as exc:  # NATS away: callers fall back to the queue group
                log.info("rpc.heartbeat_lost", service=self.service, error=repr(exc))
            await asyncio.sleep(self.heartbeat)

    async def stop(self) -> None:
        if self._beating is not None:
            self._beating.cancel()
            self._beating = None
            with contextlib.suppress(Exception):
                await self._say("-")
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs = []
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_message(self, msg: Msg) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._dispatch(msg))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _dispatch(self, msg: Msg) -> None:
        operation = msg.subject.rsplit(".", 1)[-1]
        started = time.perf_counter()
        outcome = "ok"
        try:
            body = await self._call(operation, msg.data)
            reply = RpcReply(body=msgspec.Raw(_encoder.encode(body)))
        except PreflogError as exc:
            outcome = exc.code.value
            reply = RpcReply(
                error=RpcFailure(code=exc.code.value, message=exc.message, fields=exc.fields)
            )
        except Exception as exc:
            lost = await self.lost.noticed(exc) if self.lost else connection_lost(exc)
            if lost:
                # A restart or failover of Postgres: the caller may retry; not a bug.
                outcome = "UNAVAILABLE"
                log.warning(
                    "rpc.database_unavailable",
                    service=self.service,
                    operation=operation,
                    error=repr(exc),
                )
                reply = RpcReply(error=RpcFailure(code=outcome, message=DATABASE_UNAVAILABLE))
            else:
                outcome = "INTERNAL"
                log.exception("rpc.failed", service=self.service, operation=operation)
                reply = RpcReply(error=RpcFailure(code="INTERNAL", message="internal error"))
        counted, timed = self._metrics(operation, outcome)
        counted.inc()
        timed.observe(time.perf_counter() - started)
        if msg.reply:
            try:
                await msg.respond(_encoder.encode(reply))
            except Exception:
                log.warning("rpc.reply_lost", service=self.service, operation=operation)

    async def _call(self, operation: str, data: bytes) -> Any:
        op = self._ops.get(operation)
        if op is None:
            raise Invalid(f"unknown operation {operation!r}")
        try:
            request = _request_decoder.decode(data)
        except msgspec.ValidationError as exc:
            raise Invalid("malformed request", validation_fields(exc)) from None
        except _UNDECODABLE:
            raise Invalid("malformed request") from None
        if not hmac.compare_digest(request.signature, sign(self.secret, request.ctx)):
            raise Forbidden("unsigned or tampered caller identity")
        # msgspec writes U+0000 as this escape; a hit may still be a quoted backslash.
        if _NUL_ESCAPE in data:
            try:
                fields = _any_decoder.decode(request.body)
            except _UNDECODABLE:
                raise Invalid("malformed request") from None
            if op.items_checked is not None and isinstance(fields, dict):
                fields.pop(op.items_checked, None)
            where = nul_path(fields)
            if where is not None:
                raise Invalid("text may not contain U+0000", {where or "body": NUL_REFUSED})
        try:
            body = op.decoder.decode(request.body)
        except msgspec.ValidationError as exc:
            raise Invalid("invalid input", validation_fields(exc)) from None
        except _UNDECODABLE:
            raise Invalid("malformed request") from None
        structlog.contextvars.bind_contextvars(correlation_id=request.ctx.correlation_id)
        ctx = request.ctx
        if ctx.idempotency_key is not None:
            ctx = msgspec.structs.replace(
                ctx, idempotency_key=scoped_key(operation, ctx.idempotency_key)
            )
        return await op.handler(ctx, body)


class NoResponders(Unavailable):
    """Nobody listens on the subject at all (not merely slow): the callee is not running."""


class _Members:
    """The instances of one service a client has heard from, and when."""

    def __init__(self) -> None:
        self.heard: dict[str, float] = {}
        self.subscription: Subscription | None = None
        self.answered = asyncio.Event()  # some instance has said it is there
        self.asked_at = time.monotonic()

    async def on_message(self, msg: Msg) -> None:
        text = msg.data.decode(errors="replace")
        if text.startswith("+"):
            self.heard[text[1:]] = time.monotonic()
            self.answered.set()
        elif text.startswith("-"):
            self.heard.pop(text[1:], None)

    def live(self) -> list[str]:
        """The instances heard from lately; the others are forgotten (instances that died
        without a word would otherwise pile up over restarts)."""
        horizon = time.monotonic() - MEMBER_TTL_SECONDS
        gone = [instance for instance, at in self.heard.items() if at <= horizon]
        for instance in gone:
            del self.heard[instance]
        return list(self.heard)


class RpcClient:
    """Calls services; raises the service's typed error, or Unavailable when none answers."""

    def __init__(self, nc: Client, *, namespace: str, secret: str, timeout: float = 10.0) -> None:
        self.nc = nc
        self.namespace = namespace
        self.secret = secret
        self.timeout = timeout
        self.calls = 0  # counted so tests can bound the calls a request costs
        self.fallbacks = 0  # calls with an affinity key that went to the queue group instead
        self._waited = Children(RPC_CLIENT_LATENCY)
        self._fell_back = Children(RPC_AFFINITY_FALLBACKS)
        self._members: dict[str, _Members] = {}

    async def _instance_for(self, service: str, key: str) -> str | None:
        """The live instance ``key`` maps to; None when none has been heard from lately.

        The first call for a service starts listening and asks who is there; it and the calls
        that come meanwhile wait for the first answer (until ``FIRST_ANSWER_SECONDS`` after
        asking), so a caller's first calls reach their instance too and are not counted as
        fallbacks; with no instance there, only the calls of that short window wait."""
        members = self._members.get(service)
        if members is None:
            members = self._members[service] = _Members()
            try:
                members.subscription = await self.nc.subscribe(
                    members_subject(self.namespace, service), cb=members.on_message
                )
                await self.nc.publish(who_subject(self.namespace, service), b"")
            except Exception as exc:  # NATS away: this call goes to the group, the next tries again
                del self._members[service]
                log.info("rpc.members_unavailable", service=service, error=repr(exc))
                return None
        left = members.asked_at + FIRST_ANSWER_SECONDS - time.monotonic()
        if left > 0 and not members.answered.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(members.answered.wait(), left)
        return rendezvous(key, members.live())

    async def close(self) -> None:
        """Stop listening for the services' instances."""
        for members in self._members.values():
            if members.subscription is not None:
                with contextlib.suppress(Exception):
                    await members.subscription.unsubscribe()
        self._members.clear()

    async def call(
        self,
        service: str,
        operation: str,
        body: Any,
        *,
        ctx: CallContext,
        response_type: type[R] = Any,  # type: ignore[assignment]
        timeout: float | None = None,
        affinity: str | None = None,
    ) -> R:
        """``affinity``: a key (the user) whose calls should all reach the same instance of
        the service while it lives; any instance may answer any call either way."""
        if not ctx.correlation_id:
            ctx = msgspec.structs.replace(ctx, correlation_id=str(uuid.uuid4()))
        request = RpcRequest(
            ctx=ctx, signature=sign(self.secret, ctx), body=msgspec.Raw(_encoder.encode(body))
        )
        payload = _encoder.encode(request)
        if len(payload) > self.nc.max_payload:
            raise Invalid(
                "the request is too large",
                {"body": f"at most {self.nc.max_payload} bytes per call"},
            )
        self.calls += 1
        started = time.perf_counter()
        instance = await self._instance_for(service, affinity) if affinity is not None else None
        try:
            if instance is not None:
                try:
                    msg = await self.nc.request(
                        instance_subject(self.namespace, service, instance, operation),
                        payload,
                        timeout=timeout or self.timeout,
                    )
                except NoRespondersError:
                    # Gone without saying so (killed): nobody received the call, so any
                    # instance may take it.
                    self._members[service].heard.pop(instance, None)
                    instance = None
            if instance is None:
                if affinity is not None:
                    self.fallbacks += 1
                    self._fell_back(service).inc()
                msg = await self.nc.request(
                    rpc_subject(self.namespace, service, operation),
                    payload,
                    timeout=timeout or self.timeout,
                )
        except NoRespondersError:
            raise NoResponders(f"the {service} service did not answer; retry later") from None
        except (NatsTimeout, TimeoutError):
            raise Unavailable(f"the {service} service did not answer; retry later") from None
        finally:
            # Beside the service's own handling time (preflog_rpc_latency_seconds), the wait
            # as the caller sees it: the difference is NATS and the two event loops' queues.
            self._waited(service, operation).observe(time.perf_counter() - started)
        reply = _reply_decoder.decode(msg.data)
        if reply.error is not None:
            raise PreflogError.from_code(reply.error.code, reply.error.message, reply.error.fields)
        result: R = msgspec.json.decode(reply.body, type=response_type)
        return result
