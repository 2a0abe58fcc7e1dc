-- The export service's read models, learned from other services' events.
create schema if not exists export;

-- One row per project: what every item of it shares, and the project's export sequence.
-- last_seq is bumped in the transaction that changes items, under this row's lock, so
-- export_seq values of a project become visible in increasing order (a keyset reader that
-- has seen seq N has seen everything below N).
create table export.projects (
  project_id    text primary key,
  org_id        uuid not null,
  name          text not null default '',
  rank_mode     text not null default 'FULL_ORDER',
  questions     bytea,          -- msgpack list[Question]
  last_seq      bigint not null default 0
);

create table export.members (
  project_id text not null,
  user_id    text not null,
  role       text not null,
  primary key (project_id, user_id)
);

create table export.users (
  user_id text primary key,
  org_id  uuid not null,
  email   text not null default '',
  name    text not null default ''
);

create table export.data_rows (
  data_row_id text primary key,
  org_id      uuid not null,
  info        bytea not null    -- msgpack DataRowInfo
);

create table export.batches (
  project_id text not null,
  batch_id   text not null,
  primary key (project_id, batch_id)
);

-- When an annotator started a label (lease), until it is submitted.
create table export.label_starts (
  label_id   text primary key,
  started_at timestamptz not null
);

-- The export item of each task, re-sequenced on every change.
create table export.items (
  project_id     text not null,
  task_id        text not null,
  export_seq     bigint not null,
  batch_id       text not null,
  label_statuses text[] not null default '{}',
  item           bytea not null,  -- msgpack ExportItem (questions left out: see projects)
  primary key (project_id, task_id)
);
create unique index items_by_seq on export.items (project_id, export_seq);

-- JetStream feeds: a project's records in one format, published up to published_seq.
create table export.feeds (
  project_id    text not null,
  format        text not null,
  status        text not null,
  pair_strategy text not null,
  published_seq bigint not null default 0,
  enabled_at    timestamptz not null default now(),
  primary key (project_id, format)
);
