DROP INDEX IF EXISTS idx_tasks_events_unpruned;
ALTER TABLE tasks DROP COLUMN IF EXISTS events_pruned;
