"""Folding a stream into state, optionally as of a moment: the basis of time travel."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from preflog_contracts.envelope import RecordedEvent

S = TypeVar("S")


def fold(
    events: Iterable[RecordedEvent],
    initial: S,
    evolve: Callable[[S, RecordedEvent], S],
    *,
    at: datetime | None = None,
) -> S:
    """The state after every event recorded at or before ``at`` (all events if None).

    Events must come in stream order; stops at the first event after ``at``, so a stream's
    state at T never depends on anything recorded later.
    """
    state = initial
    for event in events:
        if at is not None and event.recorded_at > at:
            break
        state = evolve(state, event)
    return state
