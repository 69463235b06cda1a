DROP TABLE IF EXISTS workspace_mcp_secrets;
ALTER TABLE workspaces DROP COLUMN IF EXISTS mcp_servers;
