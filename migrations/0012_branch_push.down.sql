ALTER TABLE tasks DROP COLUMN IF EXISTS push;
ALTER TABLE tasks DROP COLUMN IF EXISTS source_commit;
DELETE FROM workspace_secrets WHERE kind = 'git_credential';
ALTER TABLE workspace_secrets DROP CONSTRAINT IF EXISTS workspace_secrets_kind_check;
ALTER TABLE workspace_secrets ADD CONSTRAINT workspace_secrets_kind_check CHECK (kind IN ('anthropic_api_key'));
ALTER TABLE workspaces DROP COLUMN IF EXISTS push;
