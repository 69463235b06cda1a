// A workspace's MCP servers, as the API stores them and the worker hands them to `claude --mcp-config`.
// What is stored in the clear (workspaces.mcp_servers) never holds a secret value: each env value and
// header value appears there only masked, and the values themselves are sealed together in
// workspace_mcp_secrets. The worker joins the two back into the CLI's config for one attempt.

/**
 * A server name becomes the `<server>` of the CLI's tool names `mcp__<server>__<tool>`: letters, digits,
 * `-` and single `_` between them (a `__`, or a `_` at the end, would make those names ambiguous),
 * starting with a letter or digit.
 */
// No lookahead: the pattern is published in the OpenAPI document, and JSON Schema tools may not know one.
const SERVER = '[A-Za-z0-9][A-Za-z0-9-]*(?:_[A-Za-z0-9-]+)*';
export const MCP_SERVER_NAME = new RegExp(`^${SERVER}$`);
export const MAX_MCP_SERVER_NAME = 64;
export const MAX_MCP_SERVERS = 16;

/**
 * A permission rule naming MCP tools: `mcp__<server>` (all of its tools), `mcp__<server>__*` or
 * `mcp__<server>__<tool>`. The server group cannot hold `__`, so the first `__` after it ends it.
 */
const MCP_TOOL_RULE = new RegExp(`^mcp__(${SERVER})(?:__([A-Za-z0-9_-]+|\\*))?$`);

/** The server a tool rule names; null when the rule is not an MCP rule; 'invalid' when it starts like one but is not. */
export function mcpRuleServer(rule: string): string | null | 'invalid' {
  if (!rule.startsWith('mcp__')) return null;
  const match = MCP_TOOL_RULE.exec(rule);
  return match ? (match[1] as string) : 'invalid';
}

/** The public, stored form of one server: secret values replaced by their masked form. */
export type StoredMcpServer =
  | { name: string; type: 'stdio'; command: string; args: string[]; env: Record<string, string> }
  | { name: string; type: 'http'; url: string; headers: Record<string, string> };

/** The secret values of all servers of a workspace, by server name; sealed as one JSON document. */
export type McpSecrets = Record<string, { env?: Record<string, string>; headers?: Record<string, string> }>;

/** The AAD the secrets are sealed with: a ciphertext moved to another workspace does not open. */
export function mcpSecretsAad(workspaceId: string): string {
  return `workspace:${workspaceId}:mcp_servers`;
}

/** The stored list read back; anything malformed is dropped (it was validated on the way in). */
export function parseStoredMcpServers(value: unknown): StoredMcpServer[] {
  if (!Array.isArray(value)) return [];
  return value.filter((s): s is StoredMcpServer => {
    if (typeof s !== 'object' || s === null) return false;
    const server = s as Record<string, unknown>;
    if (typeof server.name !== 'string' || !MCP_SERVER_NAME.test(server.name)) return false;
    if (server.type === 'stdio') return typeof server.command === 'string' && Array.isArray(server.args) && isStringRecord(server.env);
    if (server.type === 'http') return typeof server.url === 'string' && isStringRecord(server.headers);
    return false;
  });
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string');
}

/**
 * The CLI's `--mcp-config` document for one attempt: the stored servers with their secret values put back.
 * A secret that is missing (sealed before the server list changed) leaves its entry out rather than
 * passing the masked form as if it were the value.
 */
export function buildMcpConfig(servers: readonly StoredMcpServer[], secrets: McpSecrets): { mcpServers: Record<string, unknown> } {
  const mcpServers: Record<string, unknown> = {};
  for (const server of servers) {
    const own = secrets[server.name] ?? {};
    if (server.type === 'stdio') {
      mcpServers[server.name] = { type: 'stdio', command: server.command, args: server.args, env: pick(Object.keys(server.env), own.env) };
    } else {
      mcpServers[server.name] = { type: 'http', url: server.url, headers: pick(Object.keys(server.headers), own.headers) };
    }
  }
  return { mcpServers };
}

function pick(names: string[], values: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = values?.[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Every secret value of the servers, e.g. to keep them out of what the worker logs. */
export function mcpSecretValues(secrets: McpSecrets): string[] {
  return Object.values(secrets).flatMap((s) => [...Object.values(s.env ?? {}), ...Object.values(s.headers ?? {})]);
}
