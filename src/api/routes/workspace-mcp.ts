import { maskSecret, SecretBox, type SealedSecret } from '../../crypto/secret-box.js';
import { mcpSecretsAad, type McpSecrets, type StoredMcpServer } from '../../domain/mcp-servers.js';
import { hostAllowed, normalizeHostName, type EgressPolicy } from '../../net/egress-policy.js';
import { ApiError, unprocessable } from '../errors.js';
import type { McpServerInput } from './workspace-schemas.js';

// A workspace's MCP servers as the routes take them: checked against the workspace's egress policy, split
// into the public list (values masked) and the secret values, which are sealed and never shown again.

export interface CheckedMcpServers {
  stored: StoredMcpServer[];
  secrets: McpSecrets;
}

/** Splits the request's servers into the stored list and the secrets; a duplicate name is a 422. */
export function splitMcpServers(input: readonly McpServerInput[]): CheckedMcpServers {
  const stored: StoredMcpServer[] = [];
  const secrets: McpSecrets = {};
  const seen = new Set<string>();
  input.forEach((server, i) => {
    // The CLI's tool names compare server names as written; two spellings of one name would still confuse a reader.
    const key = server.name.toLowerCase();
    if (seen.has(key)) throw unprocessable(`mcp_servers[${i}].name: "${server.name}" is used by another server of this workspace`);
    seen.add(key);
    if (server.type === 'stdio') {
      const env = server.env ?? {};
      stored.push({ name: server.name, type: 'stdio', command: server.command, args: server.args, env: masked(env) });
      if (Object.keys(env).length > 0) secrets[server.name] = { env };
    } else {
      const headers = server.headers ?? {};
      stored.push({ name: server.name, type: 'http', url: server.url, headers: masked(headers) });
      if (Object.keys(headers).length > 0) secrets[server.name] = { headers };
    }
  });
  return { stored, secrets };
}

function masked(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([name, value]) => [name, maskSecret(value)]));
}

/**
 * A remote server is reached only through the sandbox's egress proxy, so its host must be on the
 * workspace's allowlist (the proxy refuses anything else anyway; this says so before a task fails).
 */
export function checkMcpEgress(servers: readonly StoredMcpServer[], egress: EgressPolicy): void {
  servers.forEach((server, i) => {
    if (server.type !== 'http') return;
    const url = new URL(server.url);
    if (url.protocol !== 'https:') throw unprocessable(`mcp_servers[${i}].url: a remote MCP server must be https:// (got ${url.protocol})`);
    if (url.username !== '' || url.password !== '') throw unprocessable(`mcp_servers[${i}].url: put credentials in headers, not in the URL`);
    const host = normalizeHostName(url.hostname);
    if (host === null) throw unprocessable(`mcp_servers[${i}].url: "${url.hostname.slice(0, 80)}" is not a host name (IP addresses are refused)`);
    if (egress.mode !== 'allowlist' || !hostAllowed(host, egress.domains)) {
      throw unprocessable(`mcp_servers[${i}].url: host ${host} is not in the workspace's egress allowlist; add it to egress.domains (egress mode allowlist)`);
    }
  });
}

/** The sealed secrets, or null when the servers have none; a 503 naming the fix without a master key. */
export function sealMcpSecrets(box: SecretBox | null, workspaceId: string, secrets: McpSecrets): SealedSecret | null {
  if (Object.keys(secrets).length === 0) return null;
  if (box === null) {
    throw new ApiError(
      503,
      'Service unavailable',
      'MCP server env and header values are stored sealed and need a master key: set secrets.master_key (AICLI__SECRETS__MASTER_KEY, from `openssl rand -base64 32`) on the API and the workers',
    );
  }
  return box.seal(JSON.stringify(secrets), mcpSecretsAad(workspaceId));
}
