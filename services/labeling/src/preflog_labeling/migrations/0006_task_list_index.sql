-- preflog: no transaction
-- A project's task list without a status filter (Project.tasks, list_tasks) in queue order:
-- no index gave (project_id, seq) order, so a page read and sorted every task of the project
-- after the cursor: 44-91 ms a page at 1M tasks, 0.2 ms with this index. seq and project_id
-- never change, so task updates stay HOT-capable.
drop index concurrently if exists labeling.tasks_project_seq;
create index concurrently tasks_project_seq on labeling.tasks (project_id, seq);
