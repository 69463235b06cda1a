import { readFile } from 'node:fs/promises';
import { ClientError } from './errors.js';

// MCP servers come from a JSON file, never from flags: their env and header values are secrets, and a
// flag's value is visible to every user in the process list. The file holds the list itself or
// `{"mcp_servers": [...]}`; the API validates each server.

export async function readMcpServersFile(file: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ClientError(`cannot read the MCP servers file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}): pass a JSON file`, undefined, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ClientError(`${file} is not JSON: write a list of servers, e.g. [{"name": "echo", "type": "stdio", "command": "aicli-mcp-echo"}]`, undefined, { cause: err });
  }
  const servers = Array.isArray(parsed) ? parsed : (parsed as { mcp_servers?: unknown } | null)?.mcp_servers;
  if (!Array.isArray(servers)) throw new ClientError(`${file} holds no list of MCP servers: write [ ... ] or {"mcp_servers": [ ... ]}`);
  return servers;
}
