-- The event pruner marks a finished task once its events are gone, and looks only at unmarked tasks
-- (a partial index in finished_at order). Before, each statement walked every old task from the oldest,
-- skipping the ones already emptied, so a round cost grew with the square of the history.
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS events_pruned boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS idx_tasks_events_unpruned ON tasks (finished_at) WHERE finished_at IS NOT NULL AND NOT events_pruned;
