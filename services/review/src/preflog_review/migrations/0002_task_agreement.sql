-- Each task's share of its project's agreement (ADR 0024): pair sums of its consensus and
-- its part of each question's alpha, written with its consensus. The agreement report adds
-- them up instead of reading and decoding every label's snapshot of the project. Tasks scored
-- before this column are scored again by the first report that finds them without one.
alter table review.tasks add column agreement jsonb;
