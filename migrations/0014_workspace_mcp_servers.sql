-- MCP servers per workspace. workspaces.mcp_servers is the public list (names, commands, URLs, and each
-- env or header value only masked); the values themselves are sealed together (AES-256-GCM, like
-- workspace_secrets) in workspace_mcp_secrets, one row per workspace that has any.
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS mcp_servers jsonb NOT NULL DEFAULT '[]';

CREATE TABLE IF NOT EXISTS workspace_mcp_secrets (
  workspace_id uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
  key_id       text NOT NULL,
  nonce        bytea NOT NULL,
  ciphertext   bytea NOT NULL,
  tag          bytea NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
-- Rotation finds the secrets still sealed with an old master key.
CREATE INDEX IF NOT EXISTS idx_workspace_mcp_secrets_key_id ON workspace_mcp_secrets (key_id);
