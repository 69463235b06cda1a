DROP TABLE IF EXISTS audit_log;
DROP TABLE IF EXISTS user_identities;
DROP TABLE IF EXISTS api_keys;
DROP TABLE IF EXISTS refresh_tokens;
DROP TABLE IF EXISTS role_permissions;
DROP TABLE IF EXISTS user_roles;
