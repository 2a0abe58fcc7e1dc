-- preflog: no transaction
-- The audit trail filtered by actor or by event type alone (AuditFilter.actorId, .types).
--
-- Without these, such a filter read the org's trail in order and dropped what did not match:
-- on a log of 400,000 events in one org, a page for a type or an actor with no events took
-- 60-70 ms, every time, and it grows with the org's history (ADR 0023). Each index costs
-- every append: measured at about 5% of single appends and 7-10% of 100-event appends.
--
-- Built concurrently, so a deployed log keeps taking appends while they build. A build that
-- failed leaves an invalid index of the same name: dropped first, so a rerun builds it again.
drop index concurrently if exists eventlog.events_org_actor;
create index concurrently events_org_actor on eventlog.events (org_id, actor_id, global_position);
drop index concurrently if exists eventlog.events_org_type;
create index concurrently events_org_type on eventlog.events (org_id, event_type, global_position);
