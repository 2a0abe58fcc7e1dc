-- Raised from inside the append statement when a stream is not at its expected version, so the
-- whole statement (idempotency row included) fails atomically without an explicit transaction.
create function eventlog.wrong_expected_version() returns boolean
language plpgsql volatile as $$
begin
  raise exception 'wrong expected version' using errcode = 'P0001', hint = 'preflog:wrong_expected_version';
end
$$;
