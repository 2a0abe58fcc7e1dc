-- preflog: no transaction
-- The project list (list_projects) pages by project_id within an org, and nothing gave that
-- order: a page read every project of the org, and for a member every one was looked up in
-- project_members. An org admin's page now reads projects_org_id in order, a member's their
-- memberships (project_members_user_projects) in order. projects_org (org_id, created_at,
-- project_id) served no statement.
drop index concurrently if exists labeling.projects_org_id;
create index concurrently projects_org_id on labeling.projects (org_id, project_id);
drop index concurrently if exists labeling.project_members_user_projects;
create index concurrently project_members_user_projects on labeling.project_members (org_id, user_id, project_id);
drop index concurrently if exists labeling.project_members_user;
drop index concurrently if exists labeling.projects_org;
