"""Nothing a client sends crashes anything: every query and mutation of the schema, called
with hostile values in each argument and each input field in turn, answers with a code from
API.md other than ``INTERNAL`` and nothing internal in the text; afterwards the services
still work.

The calls are made from the schema itself (a new operation is covered without editing this
file). The other arguments carry real ids of one seeded project, task, label and issue, so
a hostile value reaches the service's own checks instead of stopping at "not found".
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    Undefined,
    get_named_type,
    is_leaf_type,
)

from preflog_gateway.graphql.schema import build_schema
from preflog_settings import load_settings

from .conftest import Server
from .flows import (
    add_rows,
    data_of,
    eventually,
    fixture,
    import_rows,
    issue_opened,
    new_dataset,
    new_member,
    new_project,
)
from .test_errors_and_limits import INTERNALS

CODES = {"UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "INVALID_INPUT", "CONFLICT", "RATE_LIMITED"}


def nested(depth: int) -> list[Any]:
    """``[[[...]]]``, ``depth`` lists deep."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


DEEP = "<3000 nested lists>"
"""Sent as ``[[[...]]]`` 3,000 deep, written out as text (Python's own JSON encoder stops
at its recursion limit first)."""


HOSTILE_STRINGS: list[Any] = [
    "",
    "a\u0000b",
    "\ud800",
    "\u202e\U0001f4a5" * 3,
    "x" * 200_000,
    "' or 1=1; drop table users; --",
    "<script>alert(1)</script>",
    "%s%n{0}${x}",
]
HOSTILE_IDS: list[Any] = [
    "",
    "a\u0000b",
    "\ud800",
    "../../etc/passwd",
    "x" * 5_000,
    str(uuid.uuid4()),
]
HOSTILE: dict[str, list[Any]] = {
    "String": HOSTILE_STRINGS,
    "ID": HOSTILE_IDS,
    "Int": [-1, 0, 2_147_483_647, -2_147_483_648],
    "Float": [-1e308, 1e308, 0.5],
    "Boolean": [True, False],
    "DateTime": [
        "not a time",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2026-02-30T00:00:00Z",
    ],
    "JSON": [
        None,
        {},
        [],
        "a\u0000b",
        2**70,
        -1e308,
        {"\u0000": "\u0000"},
        nested(40),
        DEEP,
        {"row_data": "a\u0000b", "global_key": "\u0000"},
        {"messages": [{"role": "x", "content": [{"kind": "\u0000"}]}]},
    ],
}

# The last operations change what the others act on (a submitted label takes no more edits,
# a new ontology drops the seeded questions).
LAST = (
    "updateOntology",
    "updateProjectSettings",
    "revokeApiToken",
    "releaseTask",
    "skipTask",
    "submitLabel",
    "approveLabel",
    "rejectLabel",
)


class Seed:
    """Real ids, by the argument names that carry them, and the tokens of the callers."""

    def __init__(self, ids: dict[str, str], tokens: dict[str, str]) -> None:
        self.ids = ids
        self.tokens = tokens

    def good(self, name: str, type_: Any) -> Any:
        """A plausible value for an argument or input field."""
        if isinstance(type_, GraphQLNonNull):
            return self.good(name, type_.of_type)
        if isinstance(type_, GraphQLList):
            return [self.good(name.removesuffix("s"), type_.of_type)]
        named = get_named_type(type_)
        if isinstance(named, GraphQLEnumType):
            return next(iter(named.values))
        if isinstance(named, GraphQLInputObjectType):
            return {
                field_name: self.good(field_name, field.type)
                for field_name, field in named.fields.items()
                if isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
            }
        key = name.removesuffix("Ids").removesuffix("Id").removesuffix("Keys").lower()
        if named.name == "ID" or name.endswith(("Id", "Ids")):
            return self.ids.get(key, self.ids.get(name.lower(), str(uuid.uuid4())))
        return {
            "String": "s",
            "Int": 1,
            "Float": 1.0,
            "Boolean": True,
            "DateTime": "2030-01-01T00:00:00Z",
            "JSON": self.ids.get(f"json:{name}", "A"),
        }.get(named.name, "s")


def variants(
    seed: Seed, name: str, type_: Any, inside: frozenset[str] = frozenset()
) -> Iterator[tuple[str, Any]]:
    """(where, value) of hostile values for an argument of this type: its own, then each
    field of an input object in turn, the others good. An input type inside itself (a
    question's follow-ups) is varied at its first level only."""
    named = get_named_type(type_)
    if isinstance(named, GraphQLInputObjectType):
        if named.name in inside:
            return
        base = seed.good(name, type_)
        base = base[0] if isinstance(base, list) else base
        wrap = isinstance(type_, GraphQLList) or (
            isinstance(type_, GraphQLNonNull) and isinstance(type_.of_type, GraphQLList)
        )
        for field_name, field in named.fields.items():
            for where, value in variants(seed, field_name, field.type, inside | {named.name}):
                obj = {**base, field_name: value}
                yield f"{name}.{where}", [obj] if wrap else obj
        return
    if isinstance(named, GraphQLEnumType):
        return
    for value in HOSTILE.get(named.name, HOSTILE_STRINGS):
        if isinstance(type_, GraphQLList) or (
            isinstance(type_, GraphQLNonNull) and isinstance(type_.of_type, GraphQLList)
        ):
            yield name, [value]
            yield name, [value] * 600
        else:
            yield name, value


def type_text(type_: Any) -> str:
    if isinstance(type_, GraphQLNonNull):
        return f"{type_text(type_.of_type)}!"
    if isinstance(type_, GraphQLList):
        return f"[{type_text(type_.of_type)}]"
    return str(type_.name)


def operation(kind: str, field_name: str, field: GraphQLField) -> str:
    params = ", ".join(f"${a}: {type_text(arg.type)}" for a, arg in field.args.items())
    passed = ", ".join(f"{a}: ${a}" for a in field.args)
    named: GraphQLNamedType = get_named_type(field.type)
    selection = "" if is_leaf_type(named) else " { __typename }"
    call = f"{field_name}({passed})" if passed else field_name
    return f"{kind}{f'({params})' if params else ''} {{ {call}{selection} }}"


def calls(seed: Seed) -> Iterator[tuple[str, str, dict[str, Any]]]:
    schema = build_schema(load_settings({}))._schema
    roots: list[tuple[str, GraphQLObjectType | None]] = [
        ("query", schema.query_type),
        ("mutation", schema.mutation_type),
    ]
    for kind, root in roots:
        assert root is not None
        fields = sorted(
            root.fields.items(),
            key=lambda kv: (kv[0] in LAST, LAST.index(kv[0]) if kv[0] in LAST else 0),
        )
        for field_name, field in fields:
            text = operation(kind, field_name, field)
            args: dict[str, GraphQLArgument] = field.args
            good = {
                a: seed.good(a, arg.type)
                for a, arg in args.items()
                if isinstance(arg.type, GraphQLNonNull) or a.endswith("Id")
            }
            for a, arg in args.items():
                if a == "idempotencyKey":
                    continue
                for where, value in variants(seed, a, arg.type):
                    yield f"{field_name}({where})={str(value)[:40]!r}", text, {**good, a: value}
            yield f"{field_name}()", text, good


def problems(where: str, status: int, body: Any) -> list[str]:
    if status not in (200, 400):
        return [f"{where}: HTTP {status} {str(body)[:200]}"]
    if not isinstance(body, dict) or not ("data" in body or "errors" in body):
        return [f"{where}: not a GraphQL answer: {str(body)[:200]}"]
    found = []
    if status == 400 and not body.get("errors"):
        found.append(f"{where}: HTTP 400 without errors: {str(body)[:200]}")
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code not in CODES:
            found.append(f"{where}: {code}: {error.get('message', '')[:200]}")
    leaked = INTERNALS.search(str(body))
    if leaked:
        found.append(f"{where}: internal text {leaked.group(0)!r} in {str(body)[:300]}")
    return found


async def seeded(system: Server) -> Seed:
    dataset = await new_dataset(system)
    imported = await import_rows(
        system,
        dataset,
        [
            {
                "row_data": fixture("labelbox/v1_shopping.json"),
                "global_key": f"hostile-{uuid.uuid4()}",
            }
        ],
    )
    row = imported["dataRowIds"][0]
    questions = [
        {"id": "overall", "title": "Overall", "kind": "RADIO", "options": [{"value": "A"}]},
        {"id": "why", "title": "Why", "kind": "TEXT"},
    ]
    allowed = {"allowResponseEdit": True, "allowResponseAdd": True, "allowResponseDelete": True}
    project = await new_project(system, ontology={"questions": questions}, settings=allowed)
    await add_rows(system, project, [row])
    user, annotator = await new_member(system, project, "ANNOTATOR")
    token = data_of(
        await system.gql(
            'mutation($u: ID!) { createApiToken(userId: $u, name: "x") { id } }', {"u": user}
        )
    )["createApiToken"]["id"]
    task = None
    for _ in range(100):
        claimed = data_of(
            await system.gql(
                """mutation($p: ID!) { claimNextTask(projectId: $p) {
                     id labels { id } dataRow { prompts { id responses { id } } } } }""",
                {"p": project},
            )
        )["claimNextTask"]
        if claimed is not None:
            task = claimed
            break
    assert task is not None
    prompt = task["dataRow"]["prompts"][0]
    issue = await eventually(lambda: issue_opened(system, task["id"]), "review to learn the task")
    return Seed(
        {
            "project": project,
            "dataset": dataset,
            "datarow": row,
            "task": task["id"],
            "label": task["labels"][0]["id"],
            "prompt": prompt["id"],
            "response": prompt["responses"][0]["id"],
            "question": "why",  # free text: an answer's text reaches the log
            "issue": issue,
            "user": user,
            "token": token,
            "id": project,
            "json:answer": "A",
            "json:rows": {
                "row_data": fixture("labelbox/v1_shopping.json"),
                "global_key": f"hostile-{uuid.uuid4()}",
            },
        },
        {"admin": system.admin_token, "annotator": annotator},
    )


@pytest.mark.parametrize("caller", ["admin", "annotator"])
async def test_every_operation_survives_hostile_arguments(system: Server, caller: str) -> None:
    """As the org admin (owner of the project: the calls reach the services' own checks) and
    as an annotator of it (most are refused on permission, with the hostile value in hand)."""
    seed = await seeded(system)
    found: list[str] = []
    sent = 0
    for where, text, variables in calls(seed):
        # Escaped to ASCII: a lone surrogate travels as the JSON text ``"\\ud800"``.
        r = await system.http.post(
            "/graphql",
            content=json.dumps({"query": text, "variables": variables})
            .replace(json.dumps(DEEP), "[" * 3_000 + "]" * 3_000)
            .encode(),
            headers={
                "authorization": f"Bearer {seed.tokens[caller]}",
                "content-type": "application/json",
            },
        )
        sent += 1
        try:
            body = r.json()
        except ValueError:
            body = r.text
        found += problems(where, r.status_code, body)
    assert sent > 500
    assert not found, "\n".join(found[:60])
    # Still serving: labeling answers a read, ingest a write.
    project = seed.ids["project"]
    ok = await system.gql("query($p: ID!) { project(id: $p) { id } viewer { id } }", {"p": project})
    assert data_of(ok)["project"]["id"] == project
    assert await new_dataset(system)


REST_VALUES = ["a%00b", "%ED%A0%80", "..%2F..%2Fetc", "x" * 4_000, "%27%3B--", "-1", "1e999"]


async def test_rest_survives_hostile_paths_and_parameters(system: Server) -> None:
    """The bulk endpoints, with each path segment and query parameter hostile in turn:
    a JSON answer with a code, never a 5xx."""
    seed = await seeded(system)
    project, dataset = seed.ids["project"], seed.ids["dataset"]
    good = {"format": "dpo", "status": "ANY"}
    params = [*good, "since", "batch_id", "since_time", "until_time", "models", "follow"]
    urls = []
    for value in REST_VALUES:
        urls += [
            ("GET", f"/v1/imports/{value}"),
            ("GET", f"/v1/projects/{value}/export?format=dpo"),
        ]
        urls += [("POST", f"/v1/datasets/{value}/imports")]
        urls += [("POST", f"/v1/datasets/{dataset}/imports?format={value}")]
        for name in params:
            query = "&".join(f"{k}={v}" for k, v in {**good, name: value}.items())
            urls.append(("GET", f"/v1/projects/{project}/export?{query}"))
    found = []
    for method, url in urls:
        r = await system.http.request(
            method,
            url,
            headers={"authorization": f"Bearer {system.admin_token}"},
            content=b'{"row_data": "a\\u0000"}\n' if method == "POST" else None,
        )
        if r.status_code >= 500:
            found.append(f"{method} {url[:80]}: HTTP {r.status_code} {r.text[:200]}")
        elif r.status_code >= 400:
            body = r.json()
            if body.get("code") not in CODES or INTERNALS.search(r.text):
                found.append(f"{method} {url[:80]}: {r.text[:200]}")
    assert not found, "\n".join(found)
