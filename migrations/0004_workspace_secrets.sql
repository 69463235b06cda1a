-- Per-workspace secrets and network policy.
-- A secret is stored sealed (AES-256-GCM): the plaintext never reaches the database. key_id names the
-- master key that sealed it, so master keys can rotate; masked is what the API shows instead.
CREATE TABLE workspace_secrets (
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  kind         text NOT NULL CHECK (kind IN ('anthropic_api_key')),
  key_id       text NOT NULL,
  nonce        bytea NOT NULL,
  ciphertext   bytea NOT NULL,
  tag          bytea NOT NULL,
  masked       text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, kind)
);
-- Rotation finds the secrets still sealed with an old master key.
CREATE INDEX idx_workspace_secrets_key_id ON workspace_secrets (key_id);

-- Egress policy of the workspace's sandboxes: {"mode": "none"} or {"mode": "allowlist", "domains": [...]}.
ALTER TABLE workspaces ADD COLUMN egress jsonb NOT NULL DEFAULT '{"mode": "none"}';
