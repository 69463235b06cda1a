import { ClientError } from './errors.js';
import type { ApiClient } from './http.js';
import type { WorkspaceJson } from './types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function listWorkspaces(api: ApiClient): Promise<WorkspaceJson[]> {
  const page = await api.request<{ items?: WorkspaceJson[] }>('GET', '/api/v1/workspaces');
  return page?.items ?? [];
}

/** `--workspace` takes an id as is, or a name looked up in the caller's workspaces. */
export async function resolveWorkspaceId(api: ApiClient, ref: string): Promise<string> {
  const wanted = ref.trim();
  if (!wanted) throw new ClientError('--workspace needs a workspace id or name');
  if (UUID.test(wanted)) return wanted.toLowerCase();
  const matches = (await listWorkspaces(api)).filter((w) => w.name === wanted);
  const [only] = matches;
  if (matches.length === 1 && only) return only.id;
  if (matches.length === 0) {
    throw new ClientError(`no workspace named "${wanted}": see aicli-web workspaces list, or create it with aicli-web workspaces create "${wanted}"`);
  }
  throw new ClientError(`${matches.length} workspaces are named "${wanted}": pass the id instead (${matches.map((w) => w.id).join(', ')})`);
}
