-- The reconciler sweeps the whole backlog a page per round, in (created_at, id) order from where the last
-- round stopped. This index holds only queued rows, in that order, so a page is read from its bound and
-- never sorted, whatever the size of the backlog.
CREATE INDEX IF NOT EXISTS idx_tasks_queued_sweep ON tasks (created_at, id) WHERE status = 'queued';
