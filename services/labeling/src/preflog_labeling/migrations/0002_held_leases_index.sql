-- A claim first looks for a lease the caller already holds in the project. The index on all of
-- a user's assignments in a project made that a read of every task they ever labelled there;
-- only rows with a lease set (held or expired and not yet swept) can answer it.
create index assignments_held on labeling.assignments (project_id, user_id) where lease_expires_at is not null;
drop index labeling.assignments_user;
