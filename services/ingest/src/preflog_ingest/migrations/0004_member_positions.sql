-- Project events can reach ingest out of log order: the ones a dead instance had fetched and
-- not acknowledged come back after the ack wait, behind later ones (ADR 0026). A membership
-- keeps the log position of the event that set it, and a removal keeps the row without a
-- role, so that an earlier MemberAdded arriving later cannot bring the member back.
alter table ingest.project_members alter column role drop not null;
alter table ingest.project_members add column position bigint not null default 0;
