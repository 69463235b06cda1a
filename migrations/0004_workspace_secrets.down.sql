ALTER TABLE workspaces DROP COLUMN IF EXISTS egress;
DROP TABLE IF EXISTS workspace_secrets;
