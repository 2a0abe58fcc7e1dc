-- A label row kept its folded state (every action of the label, as JSON) beside the view, and
-- every action rewrote both. Only the label projection read the state back, on a miss of its
-- own cache; it now folds such a label from its stream in the log instead.
alter table labeling.labels drop column state;
