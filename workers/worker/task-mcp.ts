import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { SecretBox } from '../../src/crypto/secret-box.js';
import { SecretBoxError, type SealedSecret } from '../../src/crypto/secret-box.js';
import { SANDBOX_PATHS } from '../sandbox/hardening.js';
import { buildMcpConfig, mcpSecretsAad, mcpSecretValues, type McpSecrets, type StoredMcpServer } from '../../src/domain/mcp-servers.js';

// The MCP servers of one attempt: the workspace's list with its sealed values opened, as the JSON document
// `claude --mcp-config` reads. The document is written by the worker into a root-owned place that the
// sandbox sees read-only at /run/aicli/mcp.json (never /workspace or the CLI's config dir, which the agent
// can write, and which a resumed task's patch or a repository could have planted a file in), and removed
// as soon as the sandbox has exited, so the values outlive the attempt nowhere in scratch.

/** Where the sandbox reads the document; the CLI gets it as --mcp-config with --strict-mcp-config. */
export const SANDBOX_MCP_CONFIG = SANDBOX_PATHS.mcpConfig;

export interface TaskMcp {
  /** The --mcp-config document, secret values included. */
  configJson: string;
  /** The secret values, to keep out of anything the worker logs. */
  secretValues: string[];
}

export type TaskMcpResult = { ok: true; mcp: TaskMcp | null } | { ok: false; message: string };

export function openTaskMcp(box: SecretBox | null, workspaceId: string, servers: readonly StoredMcpServer[], sealed: SealedSecret | null): TaskMcpResult {
  if (servers.length === 0) return { ok: true, mcp: null };
  let secrets: McpSecrets = {};
  if (sealed !== null) {
    if (box === null) {
      return { ok: false, message: "the workspace's MCP server secrets cannot be opened: this worker has no secrets.master_key (set AICLI__SECRETS__MASTER_KEY to the API's master key)" };
    }
    try {
      secrets = JSON.parse(box.open(sealed, mcpSecretsAad(workspaceId))) as McpSecrets;
    } catch (err) {
      if (!(err instanceof SecretBoxError)) throw err;
      return { ok: false, message: `the workspace's MCP server secrets cannot be opened: ${err.message}; or store the servers again (PUT /api/v1/workspaces/:id with mcp_servers)` };
    }
  }
  return { ok: true, mcp: { configJson: JSON.stringify(buildMcpConfig(servers, secrets)), secretValues: mcpSecretValues(secrets) } };
}

/**
 * Writes the document as `<dir>/mcp.json`, root's and read-only (0444: uid 1000 in the sandbox reads it
 * through a read-only mount). O_EXCL and O_NOFOLLOW: nothing already there, link or file, is written through.
 * Returns the host path, for the mount and for removal.
 */
export async function writeMcpConfig(dir: string, configJson: string): Promise<string> {
  const file = path.join(dir, 'mcp.json');
  const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o444);
  try {
    await handle.writeFile(configJson);
  } finally {
    await handle.close();
  }
  return file;
}

export async function removeMcpConfig(file: string): Promise<void> {
  await rm(file, { force: true });
}
