"""Property-based tests of the stream fold behind time travel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from preflog_contracts.envelope import Metadata, RecordedEvent
from preflog_eventstore import fold

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def _events(deltas: list[int]) -> list[RecordedEvent]:
    times = []
    t = BASE
    for d in deltas:  # non-decreasing recording times, as in one stream
        t = t + timedelta(seconds=d)
        times.append(t)
    return [
        RecordedEvent(
            global_position=i + 1,
            tx_id=i + 1,
            stream_name="x-1",
            stream_position=i,
            event_type="E",
            schema_version=1,
            org_id="o",
            event_id=str(i),
            data=msgspec.Raw(b"{}"),
            metadata=Metadata(actor_id="a", actor_role="r"),
            recorded_at=ts,
        )
        for i, ts in enumerate(times)
    ]


def _append(state: tuple[int, ...], e: RecordedEvent) -> tuple[int, ...]:
    return (*state, e.stream_position)


deltas = st.lists(st.integers(min_value=0, max_value=5), max_size=40)


@given(deltas, st.integers(min_value=-2, max_value=250))
def test_state_at_t_is_the_fold_of_exactly_the_events_up_to_t(ds: list[int], offset: int) -> None:
    events = _events(ds)
    at = BASE + timedelta(seconds=offset)
    state = fold(events, (), _append, at=at)
    assert state == tuple(e.stream_position for e in events if e.recorded_at <= at)


@given(deltas)
def test_fold_without_time_is_the_whole_stream_and_later_times_only_extend(ds: list[int]) -> None:
    events = _events(ds)
    full = fold(events, (), _append)
    assert full == tuple(range(len(events)))
    previous: tuple[int, ...] = ()
    for e in events:
        now = fold(events, (), _append, at=e.recorded_at)
        assert now[: len(previous)] == previous  # the past never changes
        previous = now
    assert previous == full


@given(deltas, st.integers(min_value=0, max_value=40))
def test_fold_is_incremental(ds: list[int], split: int) -> None:
    events = _events(ds)
    head = fold(events[:split], (), _append)
    assert fold(events[split:], head, _append) == fold(events, (), _append)
