"""Regenerate and check the contracts in ``proto/``.

- ``proto/events/schemas/<Type>.v<N>.json``: JSON Schema of every event type's data.
- ``proto/events/golden/<Type>.v<N>.json``: a golden example per event type and version. Once
  committed it is a promise: it must keep decoding (through upcasters) forever, so this
  command never rewrites an existing golden file.
- ``proto/asyncapi.yaml``: the NATS subjects, streams and request/reply operations.

``--check`` fails on any difference between the files and the code, and on a breaking change
to a committed event schema (a removed field, a new required field, a changed field type)
without a new ``schema_version``. ``--write`` regenerates, refusing breaking changes too.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import yaml

from preflog_contracts.events import decode_event_data, encode_event, event_types
from preflog_contracts.events.base import Event

ROOT = Path(__file__).resolve().parents[4]
PROTO = ROOT / "proto"
_EXAMPLE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def event_schema(cls: type[Event]) -> dict[str, Any]:
    return msgspec.json.schema(cls)


def _example(tp: Any, name: str, depth: int = 0) -> Any:
    """A deterministic example value of a type (for golden files of new event types)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return _example(next(a for a in args if a is not type(None)), name, depth)
    if origin is typing.Literal:
        return args[0]
    if origin in (list, tuple) or tp in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return [_example(a, f"{name}{i}", depth + 1) for i, a in enumerate(args)]
        # Recursive types (questions with follow-ups) stop after a couple of levels.
        return [_example(args[0], name, depth + 1)] if args and depth < 3 else []
    if origin is dict or tp is dict:
        return {"key": "value"}
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        hints = typing.get_type_hints(tp)
        values = {f: _example(hints[f], f, depth + 1) for f in tp.__struct_fields__}
        return list(values.values()) if tp.__struct_config__.array_like else values
    if tp is bool:
        return True
    if tp is int:
        return 1
    if tp is float:
        return 0.5
    if tp is datetime:
        return _EXAMPLE_TIME.isoformat()
    if tp is Any:
        return "any"
    return f"{name}-example"


def example_event(cls: type[Event]) -> Event:
    hints = typing.get_type_hints(cls)
    data = {f: _example(hints[f], f) for f in cls.__struct_fields__}
    return msgspec.convert(data, cls, strict=False)


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What in ``new`` would break readers or writers of ``old`` (top-level fields)."""
    old_def = _root(old)
    new_def = _root(new)
    problems = []
    old_props, new_props = old_def.get("properties", {}), new_def.get("properties", {})
    for field in old_props:
        if field not in new_props:
            problems.append(f"field {field!r} removed")
        elif old_props[field] != new_props[field]:
            problems.append(f"field {field!r} changed type")
    for field in set(new_def.get("required", [])) - set(old_def.get("required", [])):
        problems.append(f"new required field {field!r} (give it a default)")
    return problems


def _root(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        found: dict[str, Any] = schema["$defs"][ref.removeprefix("#/$defs/")]
        return found
    return schema


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, cls in sorted(event_types().items()):
        channels[f"events.{cls.category}.{name}"] = {
            "address": "{namespace}.events." + f"{cls.category}.{name}",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "description": f"{name} events relayed from the Postgres log (Nats-Msg-Id = event_id).",
        }
        messages[name] = {
            "name": name,
            "contentType": "application/json",
            "headers": {"type": "object", "properties": {"Nats-Msg-Id": {"type": "string"}}},
            "payload": {
                "description": "RecordedEvent envelope; `data` follows the schema file.",
                "$ref": f"events/schemas/{name}.v{cls.schema_version}.json",
            },
        }
    channels["rpc"] = {
        "address": "{namespace}.rpc.{service}.{operation}",
        "description": (
            "Request/reply service calls (msgspec JSON RpcRequest -> RpcReply); one queue group "
            "per service. Services: ingest, labeling, review, export; `ping` on every one."
        ),
    }
    channels["rpc.instance"] = {
        "address": "{namespace}.rpc.{service}.i.{instance}.{operation}",
        "description": (
            "The same calls to one instance of the service, for callers with an affinity key "
            "(the gateway passes the user): the key's instance is the rendezvous hash of the key "
            "over the live instances; a call that finds no responder there goes to the queue "
            "group (ADR 0029)."
        ),
    }
    channels["members"] = {
        "address": "{namespace}.members.{service}",
        "description": (
            "Each instance of a service publishes `+<instance>` on start, every second and when "
            "asked on `{namespace}.members.{service}.who` (a caller starting to listen asks), and "
            "`-<instance>` when it stops; an instance not heard from for 3.5 s is taken for gone."
        ),
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Preflog events and service calls",
            "version": "1.0.0",
            "description": (
                "Stream {NAMESPACE}_EVENTS holds subjects {namespace}.events.> (file storage, "
                "duplicate window >= the relay's longest tolerated outage). Every service reads it "
                "with durable pull consumers named {namespace}_<service>_<purpose>, explicit ack."
            ),
        },
        "channels": channels,
        "components": {"messages": messages},
    }


def generated() -> dict[Path, str]:
    files: dict[Path, str] = {}
    for name, cls in event_types().items():
        files[PROTO / "events" / "schemas" / f"{name}.v{cls.schema_version}.json"] = _dump(
            event_schema(cls)
        )
    files[PROTO / "asyncapi.yaml"] = yaml.safe_dump(asyncapi(), sort_keys=False, width=100)
    return files


def golden_files() -> dict[Path, tuple[str, int, bytes]]:
    out = {}
    for name, cls in event_types().items():
        path = PROTO / "events" / "golden" / f"{name}.v{cls.schema_version}.json"
        out[path] = (name, cls.schema_version, encode_event(example_event(cls)))
    return out


def run(write: bool) -> list[str]:
    problems: list[str] = []
    for path, text in generated().items():
        current = path.read_text() if path.exists() else None
        if path.suffix == ".json" and current is not None and "schemas" in path.parts:
            for p in breaking_changes(json.loads(current), json.loads(text)):
                problems.append(
                    f"{path.relative_to(ROOT)}: breaking change: {p}; bump schema_version"
                )
        if current != text:
            if write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            else:
                problems.append(f"{path.relative_to(ROOT)} is out of date: run `make proto`")
    for path, (_name, _version, example) in golden_files().items():
        if not path.exists():
            if write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(_dump(json.loads(example)))
            else:
                problems.append(f"{path.relative_to(ROOT)} missing: run `make proto`")
    for path in sorted((PROTO / "events" / "golden").glob("*.json")):
        name, _, version = path.stem.rpartition(".v")
        try:
            decode_event_data(name, int(version), path.read_bytes())
        except Exception as exc:
            problems.append(f"{path.relative_to(ROOT)} no longer decodes: {exc}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    problems = run(write=args.write)
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print("proto/ matches the code")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
