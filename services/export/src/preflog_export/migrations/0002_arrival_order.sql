-- Events can reach the export out of log order: the ones a dead instance had fetched and not
-- acknowledged come back after the ack wait, behind later ones. The log position of the event
-- that set a membership, a project's settings and its ontology is kept, and an earlier event
-- arriving later changes nothing. A removed member stays as a row without a role (a
-- tombstone), so that a late MemberAdded cannot bring them back.
alter table export.members alter column role drop not null;
alter table export.members add column position bigint not null default 0;
alter table export.projects add column settings_position bigint not null default 0;
alter table export.projects add column questions_position bigint not null default 0;
