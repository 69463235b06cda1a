-- Keyset pages that the plans read from their bound.
-- The reconciler sweeps the whole backlog a page per round, in (created_at, id) order from where the last
-- round stopped. This index holds only queued rows, in that order, so a page is read from its bound and
-- never sorted, whatever the size of the backlog.
CREATE INDEX IF NOT EXISTS idx_tasks_queued_sweep ON tasks (created_at, id) WHERE status = 'queued';

-- The admin user list pages by keyset in (created_at, id) order, with or without a role filter.
CREATE INDEX IF NOT EXISTS idx_users_created ON users (created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_users_role_created ON users (role, created_at, id) WHERE deleted_at IS NULL;
