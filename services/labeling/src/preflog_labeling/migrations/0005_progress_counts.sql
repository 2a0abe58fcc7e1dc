-- A project's progress (tasks by status) without counting its tasks on every read: counting
-- took 59-78 ms for a project of 1M tasks, on every project view (a dashboard, each project of
-- a page, each subscription's start). A statement trigger on labeling.tasks appends the net
-- change per (project, status) of each statement to progress_deltas: append-only, so
-- concurrent submits queue on no counter row and opposite transitions cannot deadlock. The
-- service's fold loop moves the deltas into progress (one row per project and status); a read
-- adds the few deltas not folded yet.
create table labeling.progress (
  project_id text   not null,
  status     text   not null,
  n          bigint not null,
  primary key (project_id, status)
);
create table labeling.progress_deltas (
  id         bigint generated always as identity primary key,
  project_id text not null,
  status     text not null,
  n          bigint not null
);
create index progress_deltas_project on labeling.progress_deltas (project_id);

-- No task may change while the counts are taken and the trigger is made.
lock table labeling.tasks in share row exclusive mode;
insert into labeling.progress (project_id, status, n)
  select project_id, status, count(*) from labeling.tasks group by project_id, status;

create function labeling.count_inserted_tasks() returns trigger language plpgsql as $$
begin
  insert into labeling.progress_deltas (project_id, status, n)
    select project_id, status, count(*) from inserted group by project_id, status;
  return null;
end $$;

create function labeling.count_deleted_tasks() returns trigger language plpgsql as $$
begin
  insert into labeling.progress_deltas (project_id, status, n)
    select project_id, status, -count(*) from deleted group by project_id, status;
  return null;
end $$;

create function labeling.count_updated_tasks() returns trigger language plpgsql as $$
begin
  insert into labeling.progress_deltas (project_id, status, n)
    select project_id, status, sum(n) from (
      select project_id, status, 1 as n from updated
      union all
      select project_id, status, -1 from replaced
    ) changes
    group by project_id, status
    having sum(n) <> 0;
  return null;
end $$;

create trigger tasks_counted_on_insert after insert on labeling.tasks
  referencing new table as inserted for each statement execute function labeling.count_inserted_tasks();
create trigger tasks_counted_on_delete after delete on labeling.tasks
  referencing old table as deleted for each statement execute function labeling.count_deleted_tasks();
create trigger tasks_counted_on_update after update on labeling.tasks
  referencing old table as replaced new table as updated
  for each statement execute function labeling.count_updated_tasks();
