-- A project can be archived and unarchived again (ProjectArchived, ProjectUnarchived), and
-- the consumer may receive the two out of order: the flag keeps the state of the latest event
-- in the log, as members do (ADR 0026).
alter table ingest.projects add column archived_position bigint not null default 0;
