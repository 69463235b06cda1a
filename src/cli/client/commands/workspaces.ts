import type { ClientContext } from '../context.js';
import { EXIT } from '../errors.js';
import type { WorkspaceJson } from '../types.js';
import { readMcpServersFile } from '../mcp-file.js';
import { listWorkspaces, resolveWorkspaceId } from '../workspaces.js';
import { formatTable, shortTime } from './table.js';

export async function listWorkspacesCommand(ctx: ClientContext, flags: { json?: boolean }): Promise<number> {
  const items = await listWorkspaces(ctx.api);
  if (flags.json) {
    ctx.io.stdout.write(`${JSON.stringify({ items }, null, 2)}\n`);
    return EXIT.ok;
  }
  if (items.length === 0) {
    ctx.io.stderr.write('no workspaces: create one with aicli-web workspaces create NAME\n');
    return EXIT.ok;
  }
  const rows = items.map((w) => [w.id, w.name, sourceText(w), shortTime(w.created_at)]);
  ctx.io.stdout.write(formatTable(['ID', 'NAME', 'SOURCE', 'CREATED'], rows, ctx.io.stdout.columns));
  return EXIT.ok;
}

export interface CreateWorkspaceFlags {
  git?: string;
  ref?: string;
  /** A JSON file with the workspace's MCP servers. */
  mcpServers?: string;
  json?: boolean;
}

/** `workspaces create NAME [--git URL [--ref REF]] [--mcp-servers FILE]`: prints the new id. */
export async function createWorkspaceCommand(ctx: ClientContext, name: string, flags: CreateWorkspaceFlags): Promise<number> {
  const source = flags.git ? { type: 'git', url: flags.git, ...(flags.ref ? { ref: flags.ref } : {}) } : { type: 'empty' };
  const mcp = flags.mcpServers ? { mcp_servers: await readMcpServersFile(flags.mcpServers) } : {};
  const ws = await ctx.api.request<WorkspaceJson>('POST', '/api/v1/workspaces', { body: { name, source, ...mcp } });
  ctx.io.stdout.write(flags.json ? `${JSON.stringify(ws, null, 2)}\n` : `${ws.id}\n`);
  return EXIT.ok;
}

/** `workspaces mcp WORKSPACE FILE`: replaces the workspace's MCP servers and prints them, values masked. */
export async function setWorkspaceMcpCommand(ctx: ClientContext, workspace: string, file: string, flags: { json?: boolean }): Promise<number> {
  const servers = await readMcpServersFile(file);
  const id = await resolveWorkspaceId(ctx.api, workspace);
  const ws = await ctx.api.request<WorkspaceJson>('PUT', `/api/v1/workspaces/${id}`, { body: { mcp_servers: servers } });
  if (flags.json) {
    ctx.io.stdout.write(`${JSON.stringify(ws, null, 2)}\n`);
    return EXIT.ok;
  }
  const rows = (ws.mcp_servers ?? []).map((s) => [s.name, s.type, s.type === 'stdio' ? [s.command, ...(s.args ?? [])].join(' ') : (s.url ?? ''), Object.keys(s.env ?? s.headers ?? {}).join(',') || '-']);
  if (rows.length === 0) ctx.io.stderr.write(`workspace ${ws.name} has no MCP servers now\n`);
  else ctx.io.stdout.write(formatTable(['NAME', 'TYPE', 'COMMAND OR URL', 'SECRETS'], rows, ctx.io.stdout.columns));
  return EXIT.ok;
}

function sourceText(w: WorkspaceJson): string {
  if (w.source?.type === 'git') return `git ${w.source.url ?? ''}${w.source.ref ? `@${w.source.ref}` : ''}`;
  return w.source?.type ?? '-';
}
