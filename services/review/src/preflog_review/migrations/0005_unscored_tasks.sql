-- The agreement report works out, on each call, the share of any task scored without one (by
-- code older than migration 0002, or a share nulled by hand). It found them by scanning the
-- project's tasks: 4.7 ms at 17,000 tasks, growing with the project, on every report (ADR 0028).
-- A partial index on "consensus is not null and agreement is null" would find them at once,
-- but every rescore's update would then stop being HOT (measured: none of 3,000 updates HOT
-- with it, nearly all without). Instead a trigger notes such tasks here when they are written,
-- and the report looks them up. Rows whose task has a share by now are skipped by the report
-- and removed by the backfill.
create table review.unscored_tasks (
  task_id    text primary key,
  project_id text not null
);
create index unscored_tasks_project on review.unscored_tasks (project_id);

create function review.note_unscored_task() returns trigger language plpgsql as $$
begin
  insert into review.unscored_tasks (task_id, project_id) values (new.task_id, new.project_id)
    on conflict do nothing;
  return null;
end $$;

-- No task may be written while the ones already unscored are noted and the trigger is made.
lock table review.tasks in share row exclusive mode;
insert into review.unscored_tasks (task_id, project_id)
  select task_id, project_id from review.tasks where consensus is not null and agreement is null;

create trigger tasks_unscored after insert or update of consensus, agreement on review.tasks
  for each row when (new.consensus is not null and new.agreement is null)
  execute function review.note_unscored_task();
