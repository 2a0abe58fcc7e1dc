-- The gateway's read model of accounts (organizations, users, API tokens), folded from the
-- accounts events by preflog_gateway.accounts.projection. Rebuildable from the log.
create schema if not exists gateway;

create table gateway.organizations (
  org_id     uuid primary key,
  name       text not null,
  created_at timestamptz not null
);

create table gateway.users (
  user_id     uuid primary key,
  org_id      uuid not null,
  email       text not null,
  name        text not null,
  org_role    text not null,
  is_operator boolean not null default false,
  created_at  timestamptz not null
);
create index users_org on gateway.users (org_id, created_at);
create index users_email on gateway.users (lower(email));

create table gateway.api_tokens (
  token_id   uuid primary key,
  user_id    uuid not null,
  org_id     uuid not null,
  name       text not null,
  prefix     text not null,
  token_hash text not null,
  created_at timestamptz not null,
  revoked_at timestamptz
);
create unique index api_tokens_hash on gateway.api_tokens (token_hash);
create index api_tokens_user on gateway.api_tokens (user_id);

-- Last use of a token: operational data, not an event (it would flood the log), and not part
-- of the projection (a rebuild must not erase it).
create table gateway.token_usage (
  token_id     uuid primary key,
  last_used_at timestamptz not null
);

-- Project roles, folded from ProjectCreated/MemberAdded/MemberRoleChanged, to filter the audit
-- log and live events by what each caller may see.
create table gateway.project_access (
  project_id text not null,
  org_id     uuid not null,
  user_id    text not null,
  role       text not null,
  primary key (project_id, user_id)
);
create index project_access_user on gateway.project_access (org_id, user_id);
