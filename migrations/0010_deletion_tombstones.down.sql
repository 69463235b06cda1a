DROP STATISTICS IF EXISTS tasks_workspace_status;
DROP INDEX IF EXISTS idx_users_deleted;
DROP INDEX IF EXISTS idx_workspaces_deleted;
ALTER TABLE users DROP COLUMN IF EXISTS deleted_at;
ALTER TABLE workspaces DROP COLUMN IF EXISTS deleted_at;
