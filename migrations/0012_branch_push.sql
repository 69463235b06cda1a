-- Branch push: a git workspace may name where a succeeded task's work is pushed as a branch.
-- workspaces.push: {"remote": "source" | "<url>", "branch_prefix": "...", "default": bool, "author": {...}, "committer": {...}}
-- (null: no push target). Its credential is a sealed workspace secret of kind git_credential.
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS push jsonb;

ALTER TABLE workspace_secrets DROP CONSTRAINT IF EXISTS workspace_secrets_kind_check;
ALTER TABLE workspace_secrets ADD CONSTRAINT workspace_secrets_kind_check CHECK (kind IN ('anthropic_api_key', 'git_credential'));

-- The commit the task's workspace was cloned at: the push applies the task's diff on exactly this tree.
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS source_commit text;
-- The push of a task that asked for one (options.push): {"state": "pending" | "pushed" | "failed", "branch", "commit",
-- "remote", "compare_url", "error", "tries", "pushed_at"}; written only by the pusher and the retry endpoint.
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS push jsonb;
