-- Retention. The pruner looks for finished tasks oldest first: a partial index keeps that a short range
-- scan. Deleting a task cascades to every table that names it; the two below had no index on task_id, so
-- each cascaded delete would scan the whole table.
CREATE INDEX IF NOT EXISTS idx_tasks_finished_at ON tasks (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_task_outbox_task ON task_outbox (task_id);
CREATE INDEX IF NOT EXISTS idx_idempotency_keys_task ON idempotency_keys (task_id) WHERE task_id IS NOT NULL;
