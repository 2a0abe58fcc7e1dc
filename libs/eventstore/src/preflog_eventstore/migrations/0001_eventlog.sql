-- The event log: the single source of truth (see ARCHITECTURE.md, "The event log").
create schema if not exists eventlog;

create table eventlog.events (
  global_position bigint generated always as identity primary key,
  tx_id           xid8        not null default pg_current_xact_id(),
  stream_name     text        not null,
  stream_position bigint      not null,
  event_type      text        not null,
  schema_version  smallint    not null,
  org_id          uuid        not null,
  data            jsonb       not null,
  metadata        jsonb       not null,
  event_id        uuid        not null unique,
  recorded_at     timestamptz not null default now(),
  category        text generated always as (split_part(stream_name, '-', 1)) stored,
  project_id      text generated always as (metadata->>'project_id') stored,
  task_id         text generated always as (metadata->>'task_id') stored,
  label_id        text generated always as (metadata->>'label_id') stored,
  actor_id        text generated always as (metadata->>'actor_id') stored,
  unique (stream_name, stream_position)
);

-- Commit-order reading. Each index costs every append, so there are only as many as the
-- read paths need: category readers filter the commit-order scan instead of owning an index.
create index events_commit_order on eventlog.events (tx_id, global_position);
-- Audit queries: an org's trail in order, and the two scopes a UI asks for most.
create index events_org_order on eventlog.events (org_id, global_position);
create index events_project on eventlog.events (project_id, global_position) where project_id is not null;
create index events_task on eventlog.events (task_id, global_position) where task_id is not null;

-- Command idempotency: the same key from the same actor returns the first result.
create table eventlog.idempotency (
  org_id     uuid        not null,
  actor_id   text        not null,
  key        text        not null,
  result     jsonb       not null,
  created_at timestamptz not null default now(),
  primary key (org_id, actor_id, key)
);

-- Checkpoints of readers of the log (projections, the relay), as the gap-safe pair.
create table eventlog.checkpoints (
  name            text primary key,
  tx_id           xid8   not null default '0',
  global_position bigint not null default 0,
  updated_at      timestamptz not null default now()
);

-- Inbox of JetStream consumers: written in the same transaction as the consumer's effect.
create table eventlog.inbox (
  consumer     text not null,
  event_id     uuid not null,
  processed_at timestamptz not null default now(),
  primary key (consumer, event_id)
);
