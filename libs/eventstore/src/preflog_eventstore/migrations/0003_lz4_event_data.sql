-- Data rows make events of several kilobytes, which Postgres compresses on every append;
-- lz4 does that several times faster than the default pglz. Builds without lz4 keep pglz.
do $$
begin
  alter table eventlog.events alter column data set compression lz4;
exception when feature_not_supported or invalid_parameter_value then
  raise notice 'lz4 is not available in this build; event data keeps pglz';
end
$$;
