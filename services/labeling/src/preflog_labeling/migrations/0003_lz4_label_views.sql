-- A label row carries its folded state and its view, a few kilobytes of JSON rewritten on
-- every action; Postgres compresses them on each write, and pglz showed in its profile under
-- the labeling benchmark. lz4 does that several times faster (as for the log's event data).
do $$
begin
  alter table labeling.labels alter column state set compression lz4;
  alter table labeling.labels alter column view set compression lz4;
exception when feature_not_supported or invalid_parameter_value then
  raise notice 'lz4 is not available in this build; label rows keep pglz';
end
$$;
