DROP INDEX IF EXISTS idx_audit_log_actor_id;
DROP INDEX IF EXISTS idx_audit_log_action_id;
CREATE INDEX IF NOT EXISTS idx_tasks_workspace_id ON tasks (workspace_id);
DROP INDEX IF EXISTS idx_tasks_workspace_status_created;
DROP INDEX IF EXISTS idx_tasks_workspace_created;
DROP INDEX IF EXISTS idx_tasks_owner_status_created;
