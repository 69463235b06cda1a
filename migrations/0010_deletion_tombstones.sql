-- Deleting a user or a workspace marks it first (deleted_at), which hides it from the API at once, and a
-- purger then removes its tasks and events in bounded batches before the row itself goes: one cascading
-- DELETE of a workspace with a long history would hold its locks for as long as it takes to remove
-- millions of rows.
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
ALTER TABLE users ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
CREATE INDEX IF NOT EXISTS idx_workspaces_deleted ON workspaces (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_users_deleted ON users (deleted_at) WHERE deleted_at IS NOT NULL;
-- The workspace delete's "anything still queued or running?" check reads 0008's (workspace_id, status, …)
-- index, but the planner takes workspace_id and status for independent: for a workspace with a long history
-- and a big queue elsewhere it expects many active rows there and picks a sequential scan that it thinks
-- stops soon. Statistics of the pairs tell it which (workspace, status) pairs are common; ANALYZE fills them.
CREATE STATISTICS IF NOT EXISTS tasks_workspace_status (mcv) ON workspace_id, status FROM tasks;
ANALYZE tasks;
