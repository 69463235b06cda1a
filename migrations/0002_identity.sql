-- Identity and access: roles and their permissions, refresh tokens, API keys, OAuth2 identities, audit log.

-- Roles. Those in the config (rbac.roles) are written here by the API at start-up (source 'config');
-- roles made through the admin API live only here (source 'api'). The names follow the seed guide's query:
--   SELECT u.email, u.role, ur.role_name, rp.permission FROM users u
--   JOIN user_roles ur ON u.role = ur.role_name JOIN role_permissions rp ON ur.role_name = rp.role_name;
CREATE TABLE user_roles (
  role_name   text PRIMARY KEY,
  description text NOT NULL DEFAULT '',
  source      text NOT NULL DEFAULT 'api' CHECK (source IN ('config', 'api')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE role_permissions (
  role_name  text NOT NULL REFERENCES user_roles (role_name) ON DELETE CASCADE,
  permission text NOT NULL,
  PRIMARY KEY (role_name, permission)
);

-- The built-in roles, so the query above answers before the API has first started.
INSERT INTO user_roles (role_name, description, source) VALUES
  ('admin', 'everything', 'config'),
  ('user', 'own workspaces, tasks and API keys', 'config'),
  ('viewer', 'read own workspaces and tasks', 'config');
INSERT INTO role_permissions (role_name, permission) VALUES
  ('admin', '*'),
  ('user', 'workspace:create'), ('user', 'workspace:read:own'), ('user', 'workspace:update:own'),
  ('user', 'workspace:delete:own'), ('user', 'task:create'), ('user', 'task:read:own'), ('user', 'task:cancel:own'),
  ('user', 'webhook:manage:own'), ('user', 'api_key:create'), ('user', 'api_key:read:own'), ('user', 'api_key:delete:own'),
  ('viewer', 'workspace:read:own'), ('viewer', 'task:read:own'), ('viewer', 'api_key:create'),
  ('viewer', 'api_key:read:own'), ('viewer', 'api_key:delete:own');

-- Opaque refresh tokens, stored as SHA-256 (hex). One family per login; every refresh rotates within it.
-- Presenting a token whose rotated_at is set is reuse: the whole family is revoked.
CREATE TABLE refresh_tokens (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  family_id      uuid NOT NULL,
  user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash     text NOT NULL UNIQUE,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL,
  rotated_at     timestamptz,
  revoked_at     timestamptz,
  revoked_reason text,
  created_ip     text,
  user_agent     text
);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens (user_id, expires_at);

-- API keys for machines: shown once, stored as SHA-256 (hex), scoped to a subset of the owner's permissions.
CREATE TABLE api_keys (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name         text NOT NULL,
  key_prefix   text NOT NULL,
  key_hash     text NOT NULL UNIQUE,
  scopes       text[] NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  last_used_at timestamptz,
  revoked_at   timestamptz
);
CREATE INDEX idx_api_keys_user ON api_keys (user_id, created_at DESC);

-- Accounts at OAuth2 providers, linked to users (first login creates the user; later ones link by verified email).
CREATE TABLE user_identities (
  provider      text NOT NULL,
  subject       text NOT NULL,
  user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  email         text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, subject)
);
CREATE INDEX idx_user_identities_user ON user_identities (user_id);

-- Who did what: logins, refresh-token reuse, API key and role changes. No foreign keys: the log outlives users.
CREATE TABLE audit_log (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT now(),
  actor_id    uuid,
  actor_kind  text NOT NULL CHECK (actor_kind IN ('user', 'api_key', 'anonymous', 'cli')),
  action      text NOT NULL,
  target_type text,
  target_id   text,
  ip          text,
  request_id  text,
  details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX idx_audit_log_created ON audit_log (created_at DESC, id DESC);
CREATE INDEX idx_audit_log_actor ON audit_log (actor_id, created_at DESC);
CREATE INDEX idx_audit_log_action ON audit_log (action, created_at DESC);
