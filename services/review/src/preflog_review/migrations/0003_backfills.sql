-- One-time passes over the read model that the service makes after an upgrade (the agreement
-- shares of review migration 0002): a row once a pass has finished, so later starts of the
-- service skip it instead of reading the whole table again to find nothing.
create table review.backfills (
  name        text primary key,
  finished_at timestamptz not null default now()
);
