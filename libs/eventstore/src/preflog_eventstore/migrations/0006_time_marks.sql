-- Where in the log a moment falls, for audit queries from a time (AuditFilter.since).
--
-- recorded_at is its transaction's start, so it is not ordered with global_position, and it
-- has no index (one more on every append). A mark says: no event appended after marked_at has
-- a position at or below `position` (read from the position sequence before the clock). So
-- an event recorded at or after a mark's time (its transaction began then, or later) lies
-- above that mark's position, and a query from a time starts at the last mark before it.
-- The relay's leader adds one every few seconds (ADR 0023).
create table eventlog.time_marks (
  marked_at timestamptz primary key,
  position  bigint      not null
);
