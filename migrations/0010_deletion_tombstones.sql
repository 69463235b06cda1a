-- Deleting a user or a workspace marks it first (deleted_at), which hides it from the API at once, and a
-- purger then removes its tasks and events in bounded batches before the row itself goes: one cascading
-- DELETE of a workspace with a long history would hold its locks for as long as it takes to remove
-- millions of rows.
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
ALTER TABLE users ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
CREATE INDEX IF NOT EXISTS idx_workspaces_deleted ON workspaces (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_users_deleted ON users (deleted_at) WHERE deleted_at IS NOT NULL;
