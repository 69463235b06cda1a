-- Core schema: users, workspaces, tasks and their event log.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE users (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email         text NOT NULL,
  password_hash text,
  role          text NOT NULL DEFAULT 'user',
  disabled      boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE workspaces (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name       text NOT NULL,
  source     jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_workspaces_owner ON workspaces (owner_id, created_at DESC);

CREATE TABLE tasks (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  status         text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
  -- The fencing token: bumped by the worker that takes the job; every later write names it.
  attempt        integer NOT NULL DEFAULT 0,
  prompt         text NOT NULL,
  options        jsonb NOT NULL DEFAULT '{}',
  metadata       jsonb,
  result         jsonb,
  error_code     text,
  error_message  text,
  attempt_errors jsonb NOT NULL DEFAULT '[]',
  exit_code      integer,
  usage          jsonb,
  diff           text,
  diff_truncated boolean NOT NULL DEFAULT false,
  worker_id      text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  enqueued_at    timestamptz,
  started_at     timestamptz,
  finished_at    timestamptz,
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_tasks_owner_created ON tasks (owner_id, created_at DESC, id DESC);
CREATE INDEX idx_tasks_workspace_id ON tasks (workspace_id);
CREATE INDEX idx_tasks_status_created ON tasks (status, created_at);

CREATE TABLE task_events (
  task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  seq        integer NOT NULL,
  attempt    integer NOT NULL,
  type       text NOT NULL,
  payload    jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_id, seq)
);
