-- Review read models. Facts learned from labeling/ingest events (JetStream consumer) and
-- review's own workflow/issue events (projection). Never read another service's tables.
create schema if not exists review;

create table review.projects (
  project_id            text primary key,
  org_id                uuid not null,
  quality_mode          text not null default 'BENCHMARK',
  consensus_label_count int  not null default 1,
  consensus_coverage    double precision not null default 1.0,
  review_required       boolean not null default true,
  rank_mode             text not null default 'FULL_ORDER',
  questions             jsonb not null default '[]'
);

create table review.members (
  project_id text not null,
  user_id    text not null,
  org_id     uuid not null,
  role       text not null,
  primary key (project_id, user_id)
);

-- Only what scoring needs of a data row: its prompts (responses and model names).
create table review.data_rows (
  data_row_id text primary key,
  org_id      uuid not null,
  row         jsonb not null
);

create table review.tasks (
  task_id           text primary key,
  org_id            uuid not null,
  project_id        text not null,
  data_row_id       text not null,
  priority          int not null default 0,
  created_at        timestamptz not null,
  status            text not null default 'TO_LABEL',
  status_position   bigint not null default 0,
  status_changed_at timestamptz,
  status_reason     text not null default '',
  consensus         jsonb,            -- TaskConsensus of the counting labels
  consensus_score   double precision
);
create index tasks_queue on review.tasks (project_id, status, priority desc, status_changed_at, task_id);

create table review.labels (
  label_id           text primary key,
  org_id             uuid not null,
  project_id         text not null,
  task_id            text not null,
  data_row_id        text not null default '',
  author_id          text not null default '',
  status             text not null default 'DRAFT',
  status_position    bigint not null default 0,  -- global position of the event that set status
  submitted_position bigint not null default 0,  -- of the latest LabelSubmitted
  snapshot           jsonb,
  leased_at          timestamptz,
  submitted_at       timestamptz,
  seconds_to_label   double precision,
  rejection_reason   text not null default '',
  is_reference       boolean not null default false,
  consensus          jsonb,   -- LabelConsensus while the label counts
  consensus_score    double precision,
  benchmark          jsonb,   -- LabelComparison against its row's reference
  benchmark_score    double precision,
  outcomes           jsonb not null default '[]'  -- pair outcomes it adds to pair_counts now
);
create index labels_task on review.labels (task_id);
create index labels_row on review.labels (project_id, data_row_id);
create index labels_project on review.labels (project_id, author_id);

create table review.reference_labels (
  project_id  text not null,
  data_row_id text not null,
  label_id    text not null,
  position    bigint not null,
  primary key (project_id, data_row_id)
);

-- Review history: one row per review event (approve, reject, mark, reference).
create table review.reviews (
  event_id        uuid primary key,
  org_id          uuid not null,
  project_id      text not null,
  task_id         text not null,
  label_id        text not null,
  kind            text not null,
  actor_id        text not null,
  at              timestamptz not null,
  global_position bigint not null,
  comment         text not null default '',
  target          jsonb not null default '{}',
  question_id     text
);
create index reviews_label on review.reviews (label_id, global_position);

create table review.issues (
  issue_id    text primary key,
  org_id      uuid not null,
  project_id  text not null,
  task_id     text not null,
  label_id    text,
  target      jsonb not null default '{}',
  question_id text,
  body        text not null,
  author_id   text not null,
  created_at  timestamptz not null,
  status      text not null default 'OPEN',
  resolution  text not null default '',
  resolved_by text,
  comments    jsonb not null default '[]'
);
create index issues_project on review.issues (project_id, status, created_at, issue_id);
create index issues_task on review.issues (task_id, created_at);

-- Leaderboard aggregation: outcome counts per unordered model pair (model_a < model_b).
create table review.pair_counts (
  project_id text not null,
  model_a    text not null,
  model_b    text not null,
  wins_a     bigint not null default 0,
  wins_b     bigint not null default 0,
  ties       bigint not null default 0,
  primary key (project_id, model_a, model_b)
);
