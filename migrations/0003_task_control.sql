-- Task control: cancellation requests, idempotency keys, follow-up artifacts, webhooks.
ALTER TABLE tasks
  ADD COLUMN cancel_requested_at timestamptz,
  ADD COLUMN webhook_url text;

CREATE TABLE idempotency_keys (
  owner_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key          text NOT NULL,
  request_hash text NOT NULL,
  task_id      uuid REFERENCES tasks (id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (owner_id, key)
);
CREATE INDEX idx_idempotency_keys_expires ON idempotency_keys (expires_at);

-- Artifacts kept after the scratch dir is gone: the Claude transcript (JSONL) a follow-up resumes from.
CREATE TABLE task_artifacts (
  task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  kind       text NOT NULL,
  attempt    integer NOT NULL,
  body       text NOT NULL,
  truncated  boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_id, kind)
);

-- One signing secret per user for webhook deliveries (X-Aicli-Signature: sha256=<hmac>).
CREATE TABLE webhook_secrets (
  user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  secret     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
  task_id      uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  try          integer NOT NULL,
  status_code  integer,
  error        text,
  delivered_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_id, try)
);
