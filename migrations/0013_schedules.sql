-- Schedules: a cron line and a task template per workspace. Postgres keeps them (the source of truth);
-- the BullMQ job scheduler of each enabled one is (re)made from these rows. `version` grows with every
-- change, so a scheduler made from an older read of the row is told apart from the current one.
CREATE TABLE schedules (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  name         text NOT NULL DEFAULT '',
  cron         text NOT NULL,
  timezone     text NOT NULL,
  -- The task request without workspace_id, as POST /api/v1/tasks validated it.
  task         jsonb NOT NULL,
  enabled      boolean NOT NULL DEFAULT true,
  version      integer NOT NULL DEFAULT 1,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_schedules_owner_created ON schedules (owner_id, created_at DESC, id DESC);
CREATE INDEX idx_schedules_workspace ON schedules (workspace_id);

-- One row per tick that reached a schedule: the primary key makes a tick's task at most one, whichever
-- process and however many duplicated scheduler jobs handle it. A tick over a cap is kept as skipped with
-- the reason.
CREATE TABLE schedule_runs (
  schedule_id uuid NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
  tick_at     timestamptz NOT NULL,
  status      text NOT NULL CHECK (status IN ('created', 'skipped')),
  task_id     uuid UNIQUE REFERENCES tasks (id) ON DELETE SET NULL,
  reason      text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (schedule_id, tick_at)
);
