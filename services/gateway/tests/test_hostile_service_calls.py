"""The services re-check what the gateway checks: every operation of every service, called
over NATS as the gateway calls it (a signed org admin), with hostile values in each field of
its request in turn (values the gateway's schema would not let through: 64-bit overflows,
megabyte strings, lists of thousands), answers with a typed error other than ``INTERNAL`` and
within its timeout; afterwards every service still answers.

The requests are made from each operation's request type (a new operation is covered
without editing this file); the other fields carry the real ids of one seeded project.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import msgspec.inspect as mi

from preflog_contracts.errors import ErrorCode, PreflogError
from preflog_contracts.identity import Identity
from preflog_messaging import CallContext

from .conftest import Server
from .flows import data_of
from .test_hostile_arguments import nested, seeded

# Operations that change what the others act on, called last (snake_case of LAST there).
LAST = (
    "update_ontology",
    "update_project_settings",
    "release_task",
    "skip_task",
    "submit_label",
    "approve_label",
    "reject_label",
    "abort_import",
)
TIMEOUT = 8.0


def hostile(t: mi.Type) -> list[Any]:
    if isinstance(t, mi.StrType):
        return ["", "x" * 100_000, "\u202e\U0001f4a5", "' or 1=1; --", "\\u0000", "../../etc"]
    if isinstance(t, mi.IntType):
        return [-1, 0, 2**31, 2**63 - 1, -(2**63), 2**64]
    if isinstance(t, mi.FloatType):
        return [-1e308, 1e308, 0.0]
    if isinstance(t, mi.BytesType):
        return ["", base64.b64encode(bytes(range(256)) * 8).decode()]
    if isinstance(t, mi.DateTimeType):
        return ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        items = hostile(t.item_type)
        return [[], items[:1], items[:1] * 3_000]
    if isinstance(t, mi.DictType):
        return [{}, {"k" * 1_000: "v"}, {"a": nested(50)}]
    if isinstance(t, mi.AnyType):
        return [None, {}, [], "s", 2**70, nested(50), {"row_data": "x"}]
    if isinstance(t, mi.UnionType):
        return [None, *(v for member in t.types for v in hostile(member))]
    if isinstance(t, mi.LiteralType | mi.EnumType):
        return ["NOT_ONE_OF_THEM"]
    return []


def good(name: str, t: mi.Type, ids: dict[str, str]) -> Any:
    if isinstance(t, mi.StructType):
        return {f.encode_name: good(f.name, f.type, ids) for f in t.fields if f.required}
    if isinstance(t, mi.UnionType):
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        return good(name, members[0], ids) if members else None
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return [good(name.removesuffix("s"), t.item_type, ids)]
    if isinstance(t, mi.LiteralType):
        return t.values[0]
    if isinstance(t, mi.EnumType):
        return next(iter(t.cls)).value
    key = name.removesuffix("_ids").removesuffix("_id").replace("_", "")
    scalars: dict[type, Any] = {
        mi.StrType: ids.get(key, "s"),
        mi.IntType: 1,
        mi.FloatType: 1.0,
        mi.BoolType: True,
        mi.DateTimeType: "2030-01-01T00:00:00Z",
        mi.BytesType: "",
        mi.AnyType: "A",
        mi.DictType: {},
    }
    return scalars.get(type(t))


def variants(t: mi.StructType, ids: dict[str, str], depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(field path, request) with one field hostile, the others good; structs inside are
    varied one level down."""
    base = good("", t, ids)
    for f in t.fields:
        inner = f.type
        if isinstance(inner, mi.UnionType):
            structs = [m for m in inner.types if isinstance(m, mi.StructType)]
            inner = structs[0] if structs else inner
        if isinstance(inner, mi.StructType) and depth < 1:
            for where, value in variants(inner, ids, depth + 1):
                yield f"{f.encode_name}.{where}", {**base, f.encode_name: value}
        for value in hostile(f.type):
            yield f.encode_name, {**base, f.encode_name: value}


async def test_every_service_operation_survives_hostile_requests(system: Server) -> None:
    seed = await seeded(system)
    me = data_of(await system.gql("{ viewer { id } organization { id } }"))
    ctx = CallContext(
        identity=Identity(
            user_id=me["viewer"]["id"], org_id=me["organization"]["id"], org_role="ADMIN"
        ),
        correlation_id="hostile",
    )
    rpc = system.runtime.rpc
    calls: list[tuple[str, str, str, Any]] = []
    for part in system.services:
        assert part.rpc is not None
        ops = sorted(
            part.rpc.operations, key=lambda op: (op in LAST, LAST.index(op) if op in LAST else 0)
        )
        for op in ops:
            info = mi.type_info(part.rpc.request_type(op))
            assert isinstance(info, mi.StructType)
            calls += [(part.name, op, where, body) for where, body in variants(info, seed.ids)]
    found: list[str] = []
    for service, op, where, body in calls:
        try:
            await rpc.call(service, op, body, ctx=ctx, timeout=TIMEOUT)
        except PreflogError as exc:
            if exc.code in (ErrorCode.INTERNAL, ErrorCode.UNAVAILABLE):
                found.append(f"{service}.{op}({where}={str(body.get(where))[:40]}): {exc.code}")
    assert len(calls) > 500
    assert not found, "\n".join(found[:60])
    for part in system.services:
        assert await rpc.call(part.name, "ping", {}, ctx=ctx) is not None
