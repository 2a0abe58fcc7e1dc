"""Base of every event, the registry of event types, and upcasting on read.

Evolution rules: a new field gets a default; a breaking change bumps the class's
``schema_version`` and registers an upcaster from the previous version. Stored events are
never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=False):
    """An immutable fact, named in the past tense. Subclass per event type."""

    schema_version: ClassVar[int] = 1
    category: ClassVar[str] = ""

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function turning version ``from_version`` data into ``from_version + 1``."""

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def _all_subclasses(cls: type[Event]) -> list[type[Event]]:
    out: list[type[Event]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


_REGISTRY: dict[str, type[Event]] = {}


def event_types() -> dict[str, type[Event]]:
    """Every concrete event type by name (importing :mod:`preflog_contracts.events` fills it)."""
    if not _REGISTRY:
        from preflog_contracts import events  # noqa: F401  (imports every module)

        for sub in _all_subclasses(Event):
            if sub.category:
                if sub.__name__ in _REGISTRY:
                    raise RuntimeError(f"event type {sub.__name__} defined twice")
                _REGISTRY[sub.__name__] = sub
    return _REGISTRY


_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {}
_ENCODER = msgspec.json.Encoder()


def encode_event(event: Event) -> bytes:
    return _ENCODER.encode(event)


def decode_event_data(event_type: str, schema_version: int, data: bytes | str) -> Event:
    """Decode stored data into its event type, upcasting older schema versions first."""
    cls = event_types().get(event_type)
    if cls is None:
        raise KeyError(f"unknown event type {event_type!r}")
    if schema_version < cls.schema_version:
        payload: dict[str, Any] = msgspec.json.decode(data)
        for version in range(schema_version, cls.schema_version):
            payload = _UPCASTERS[(event_type, version)](payload)
        return msgspec.convert(payload, cls)
    decoder = _DECODERS.get(event_type)
    if decoder is None:
        decoder = _DECODERS[event_type] = msgspec.json.Decoder(cls)
    result: Event = decoder.decode(data)
    return result
