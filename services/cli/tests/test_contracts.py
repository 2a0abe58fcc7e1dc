"""The proto/ check: drift and breaking changes to event schemas are caught."""

from __future__ import annotations

import msgspec

from preflog_cli.contracts import breaking_changes, event_schema, example_event, run
from preflog_contracts.events import decode_event_data, encode_event, event_types


class V1(msgspec.Struct):
    a: str
    b: int = 0


class AddedOptional(msgspec.Struct):
    a: str
    b: int = 0
    c: str = ""


class AddedRequired(msgspec.Struct):
    a: str
    c: str
    b: int = 0


class Removed(msgspec.Struct):
    a: str


class Retyped(msgspec.Struct):
    a: int
    b: int = 0


def test_additive_change_with_default_is_not_breaking() -> None:
    assert breaking_changes(msgspec.json.schema(V1), msgspec.json.schema(AddedOptional)) == []


def test_removed_retyped_and_new_required_fields_are_breaking() -> None:
    old = msgspec.json.schema(V1)
    assert breaking_changes(old, msgspec.json.schema(Removed)) == ["field 'b' removed"]
    assert breaking_changes(old, msgspec.json.schema(Retyped)) == ["field 'a' changed type"]
    assert "new required field 'c'" in breaking_changes(old, msgspec.json.schema(AddedRequired))[0]


def test_every_event_type_round_trips_its_generated_example() -> None:
    for name, cls in event_types().items():
        event = example_event(cls)
        assert decode_event_data(name, cls.schema_version, encode_event(event)) == event
        assert event_schema(cls)


def test_proto_matches_the_code() -> None:
    assert run(write=False) == []
