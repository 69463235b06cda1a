DROP INDEX IF EXISTS idx_users_role_created;
DROP INDEX IF EXISTS idx_users_created;
DROP INDEX IF EXISTS idx_tasks_queued_sweep;
