-- preflog: no transaction
-- Idempotency keys by age, for pruning those past their window (prune_idempotency_keys).
--
-- A key answers for 24 hours (IDEMPOTENCY_WINDOW); older rows are deleted in small batches,
-- oldest first. Without this index each batch would scan the table for its expired rows,
-- and the table holds a day of every keyed command. It costs each keyed command's insert,
-- not the appends without a key (ADR 0035).
--
-- Built concurrently: the table grew without bound before the window, and a deployed system
-- keeps taking keyed commands while it builds. A failed build leaves an invalid index of the
-- same name, dropped first so that a rerun builds it again.
drop index concurrently if exists eventlog.idempotency_created_at;
create index concurrently idempotency_created_at on eventlog.idempotency (created_at);
