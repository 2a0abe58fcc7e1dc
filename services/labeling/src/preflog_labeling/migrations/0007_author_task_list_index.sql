-- preflog: no transaction
-- An annotator's page of a project's tasks (list_tasks with an author: the tasks they have a
-- label on) read the project's tasks in queue order, looking up the caller's assignment of
-- each, until the page was full: one with a few labels in a 1M-task project read all of it
-- (985 ms). An assignment now keeps its task's seq (which never changes; the claim sets it),
-- and the page reads the author's assignments in that order: 0.3 ms. The claim's held-lease
-- lookup keeps its own partial index (assignments_held, migration 0002; test_queue_plans.py).
alter table labeling.assignments add column if not exists seq bigint;
update labeling.assignments a set seq = t.seq from labeling.tasks t where t.task_id = a.task_id and a.seq is null;
drop index concurrently if exists labeling.assignments_author;
create index concurrently assignments_author on labeling.assignments (project_id, user_id, seq);
