-- The latest of labeling's own events that set a task's status and that review reacts to
-- (TaskSkipped, TaskRequeued, LabelSubmitted). Review's reaction to an earlier one, arriving
-- after a later one was applied, no longer sets the status back (domain.task.stale_echo).
-- Null for tasks written before: their reactions apply as they did.
alter table labeling.tasks add column status_cause text;
