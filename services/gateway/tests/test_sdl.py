"""The committed SDL matches the code, has no breaking change, and holds every API.md name."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import GraphQLInputObjectType, GraphQLObjectType, build_schema

from preflog_gateway.sdl import SDL_PATH, breaking_changes, current_sdl

API_MD = Path(__file__).resolve().parents[3] / "../shared/design/API.md"


def test_committed_sdl_has_no_drift_and_no_breaking_change() -> None:
    committed = SDL_PATH.read_text()
    assert breaking_changes(committed, current_sdl()) == []
    assert committed == current_sdl(), "run: uv run python -m preflog_gateway.sdl write"


def test_breaking_change_check_sees_a_removed_field() -> None:
    old = "type Query { a: Int, b: String }"
    assert breaking_changes(old, "type Query { a: Int }")
    assert breaking_changes(old, "type Query { a: Int, b: String, c: Int }") == []


def test_every_operation_and_listed_field_of_api_md_exists() -> None:
    text = API_MD.resolve().read_text()
    schema = build_schema(current_sdl())
    for root in ("Query", "Mutation", "Subscription"):
        block = re.search(rf"type {root} \{{(.*?)\n\}}", text, re.S)
        assert block is not None
        names = re.findall(r"^  (\w+)[(:]", block.group(1), re.M)
        root_type = schema.get_type(root)
        assert isinstance(root_type, GraphQLObjectType)
        assert names and set(names) <= set(root_type.fields), set(names) - set(root_type.fields)
    # "Key object fields": - `Type { a, b, c(format) }`
    for type_name, fields in re.findall(r"^- `(\w+) \{ ([^`]*?) \}`", text, re.M):
        gql_type = schema.get_type(type_name)
        assert isinstance(gql_type, GraphQLObjectType | GraphQLInputObjectType), type_name
        top = fields
        while (stripped := re.sub(r"\[[^\[\]]*\]|\{[^{}]*\}|\([^()]*\)", "", top)) != top:
            top = stripped
        for field in (f.strip() for f in top.split(",")):
            assert field in gql_type.fields, f"{type_name}.{field}"
    for enum in re.findall(r"^enum (\w+) \{", text, re.M):
        assert schema.get_type(enum) is not None, enum
    for inp in re.findall(r"^input (\w+) \{", text, re.M):
        assert schema.get_type(inp) is not None, inp
