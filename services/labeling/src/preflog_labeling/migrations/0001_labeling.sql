-- The labeling service's own tables (ARCHITECTURE.md: one schema per service).
create schema if not exists labeling;

-- Learned from ingest's events (JetStream consumer), never from ingest's tables.
create table labeling.datasets (
  dataset_id text primary key,
  org_id     uuid not null,
  name       text not null,
  created_at timestamptz not null default now()
);

create table labeling.data_rows (
  data_row_id text primary key,
  org_id      uuid not null,
  dataset_id  text not null,
  global_key  text not null,
  external_id text,
  row         jsonb not null,
  metadata    jsonb not null default '{}',
  created_at  timestamptz not null
);
create index data_rows_key on labeling.data_rows (org_id, global_key);
create index data_rows_dataset on labeling.data_rows (org_id, dataset_id);

create table labeling.prelabels (
  project_id  text not null,
  data_row_id text not null,
  org_id      uuid not null,
  source      text not null,
  prelabels   jsonb not null,
  primary key (project_id, data_row_id)
);

-- The task queue and task read model. Written in the same transaction as the events that
-- change it (claim, release, skip, requeue, submit), and by the workflow consumer.
create table labeling.tasks (
  task_id          text primary key,
  org_id           uuid not null,
  project_id       text not null,
  data_row_id      text not null,
  batch_id         text not null,
  priority         int not null default 0,
  seq              bigint generated always as identity,
  required_labels  int not null default 1,
  submitted_labels int not null default 0,
  open_leases      int not null default 0,
  status           text not null default 'TO_LABEL',
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  unique (project_id, data_row_id)
);
create index tasks_queue on labeling.tasks (project_id, priority desc, seq) where status = 'TO_LABEL';
create index tasks_by_status on labeling.tasks (project_id, status, seq);

-- One row per (task, annotator): their label, its status and their lease.
create table labeling.assignments (
  task_id          text not null,
  user_id          text not null,
  label_id         text not null unique,
  org_id           uuid not null,
  project_id       text not null,
  label_status     text not null default 'DRAFT',
  skipped          boolean not null default false,
  leased_at        timestamptz,
  lease_expires_at timestamptz,
  primary key (task_id, user_id)
);
create index assignments_expiry on labeling.assignments (lease_expires_at) where lease_expires_at is not null;
create index assignments_user on labeling.assignments (project_id, user_id);

-- Projections of the log (ProjectionRunner): rebuildable from position zero.
create table labeling.projects (
  project_id text primary key,
  org_id     uuid not null,
  name       text not null,
  archived   boolean not null default false,
  created_at timestamptz not null
);
create index projects_org on labeling.projects (org_id, created_at, project_id);

create table labeling.project_members (
  project_id text not null,
  user_id    text not null,
  org_id     uuid not null,
  role       text not null,
  primary key (project_id, user_id)
);
create index project_members_user on labeling.project_members (org_id, user_id);

create table labeling.labels (
  label_id   text primary key,
  org_id     uuid not null,
  task_id    text not null,
  project_id text not null,
  author_id  text not null,
  version    bigint not null,
  state      jsonb not null,
  view       jsonb not null,
  updated_at timestamptz not null
);
create index labels_task on labeling.labels (task_id);
