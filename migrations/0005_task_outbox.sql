-- The task outbox: every task transition writes the effects it owes the outside world (Redis publishes,
-- the webhook, metrics) in the same transaction as the row, and a relay delivers and deletes them after
-- commit. A crash between commit and delivery leaves the row here, so nothing a transition owes is lost.
CREATE TABLE task_outbox (
  id         bigserial PRIMARY KEY,
  task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  transition text NOT NULL,
  effects    jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- The relay scans oldest first; delivered rows are deleted, so the table holds only what is owed.
CREATE INDEX idx_task_outbox_created ON task_outbox (created_at, id);
