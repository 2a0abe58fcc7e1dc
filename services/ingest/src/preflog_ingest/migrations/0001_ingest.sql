-- The ingest service's tables. Datasets, global keys and imports are written in the same
-- transaction as the events they go with (they guard names and keys, and make an import's
-- rows visible the moment they commit). Projects, members and batches are learned from
-- labeling's events through a JetStream consumer.
create schema if not exists ingest;

create table ingest.datasets (
  dataset_id  uuid primary key,
  org_id      uuid        not null,
  name        text        not null,
  description text        not null default '',
  created_by  text        not null,
  created_at  timestamptz not null default now(),
  unique (org_id, name)
);

-- One row per imported data row: the org-wide global key guard and the catalog index.
-- The row itself is its DataRowImported event (stream datarow-<data_row_id>).
create table ingest.global_keys (
  org_id      uuid        not null,
  global_key  text        not null,
  data_row_id uuid        not null unique,
  dataset_id  uuid        not null,
  import_id   uuid        not null,
  line        int         not null,
  created_at  timestamptz not null default now(),
  primary key (org_id, global_key)
);
create index global_keys_dataset on ingest.global_keys (dataset_id);

create table ingest.imports (
  import_id    uuid primary key,
  org_id       uuid        not null,
  dataset_id   uuid        not null,
  actor_id     text        not null,
  owner        text        not null,  -- the service instance holding the session
  content_type text        not null,
  status       text        not null,  -- RUNNING | COMPLETED | FAILED
  received     int         not null default 0,
  accepted     int         not null default 0,
  rejected     int         not null default 0,
  duplicates   int         not null default 0,
  fetched      int         not null default 0,
  failure      text,
  started_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  finished_at  timestamptz
);

create table ingest.import_errors (
  error_id   bigint generated always as identity primary key,
  import_id  uuid not null,
  line       int  not null,
  global_key text,
  code       text not null,
  message    text not null,
  path       text not null default ''
);
create index import_errors_by_import on ingest.import_errors (import_id, error_id);

create table ingest.projects (
  project_id       text primary key,
  org_id           uuid    not null,
  questions        jsonb   not null default '[]',
  ontology_version int     not null default -1,
  archived         boolean not null default false
);

create table ingest.project_members (
  project_id text not null,
  user_id    text not null,
  org_id     uuid not null,
  role       text not null,
  primary key (project_id, user_id)
);
create index project_members_by_user on ingest.project_members (org_id, user_id);

create table ingest.project_rows (
  project_id  text not null,
  data_row_id text not null,
  primary key (project_id, data_row_id)
);
