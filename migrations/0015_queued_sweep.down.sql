DROP INDEX IF EXISTS idx_tasks_queued_sweep;
