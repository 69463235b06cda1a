DROP INDEX IF EXISTS idx_idempotency_keys_task;
DROP INDEX IF EXISTS idx_task_outbox_task;
DROP INDEX IF EXISTS idx_tasks_finished_at;
