-- Whether any of the given event ids is in the log, always by the event_id index.
--
-- Inside the append statement this lookup was planned with the statement: a connection's
-- cached generic plan, made while the log was a few pages long, kept a sequential scan of
-- eventlog.events for every later append, however large the log grew (seen in the labeling
-- benchmark under auto_explain: most appends slower than 4 ms scanned the whole log). Where
-- autovacuum runs, autoanalyze would re-plan now and then; where it does not, nothing would.
-- A function with its own settings is planned on its own, and cannot choose a scan.
create function eventlog.events_exist(ids uuid[]) returns boolean
language sql stable strict
set enable_seqscan = off
set enable_bitmapscan = off
as $$ select exists (select 1 from eventlog.events where event_id = any(ids)) $$;
