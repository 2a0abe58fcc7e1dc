-- preflog: no transaction
-- The queue in claim order as ascending columns: (-priority, seq). A claim starts its scan at
-- the caller's frontier with a row comparison, (-priority, seq) >= (p, s), which an index
-- can only start at when its columns ascend in the compared order (migration 0010). The cast
-- keeps the lowest int priority negatable.
create index concurrently if not exists tasks_queue_from
  on labeling.tasks (project_id, (-(priority::bigint)), seq) where status = 'TO_LABEL';
drop index concurrently if exists labeling.tasks_queue;
