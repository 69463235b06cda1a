-- Every request-path and worker-path query reads what it returns, whatever the backlog and the history
-- (each plan is checked by test/api/query-plans.test.ts; figures in bench/scale).
--
-- Task list pages (keyset on created_at, id, newest first): each filter the list takes has an index in
-- the page's order, so a page is a short index range even when the filter matches no row. Before, a
-- status filter walked the owner's whole history (a status the owner has none of read every row) and a
-- workspace filter sorted the workspace's whole history for each page.
CREATE INDEX idx_tasks_owner_status_created ON tasks (owner_id, status, created_at DESC, id DESC);
CREATE INDEX idx_tasks_workspace_created ON tasks (workspace_id, created_at DESC, id DESC);
-- The same for workspace and status together; it also serves the claim's running count per workspace
-- and the workspace delete's check for queued or running tasks (an equality on status: two short ranges),
-- which before intersected the workspace's history with every queued task.
CREATE INDEX idx_tasks_workspace_status_created ON tasks (workspace_id, status, created_at DESC, id DESC);
-- Its leading column is that of idx_tasks_workspace_created (the cascade from workspaces uses either).
DROP INDEX IF EXISTS idx_tasks_workspace_id;

-- The admin audit list pages by id, newest first, filtered by action or actor: an index in that order
-- per filter, so a rare action no longer walks the whole log backwards.
CREATE INDEX idx_audit_log_action_id ON audit_log (action, id DESC);
CREATE INDEX idx_audit_log_actor_id ON audit_log (actor_id, id DESC);
