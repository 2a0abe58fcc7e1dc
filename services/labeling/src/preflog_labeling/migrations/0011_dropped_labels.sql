-- A label dropped when a manager requeued its task from rework (review's TaskStatusChanged
-- with dropped_label_ids): it stays REJECTED, no longer counts in the task's
-- submitted_labels, and its author may not act on it again.
alter table labeling.assignments add column dropped boolean not null default false;
