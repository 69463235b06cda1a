import type { z } from 'zod';
import { maskSecret, SecretBox } from '../../crypto/secret-box.js';
import {
  deleteWorkspaceSecret,
  upsertWorkspaceSecret,
  workspaceSecretAad,
  workspaceSecretMeta,
} from '../../db/workspace-secrets.js';
import { findWorkspace, type WorkspaceRow } from '../../db/workspaces.js';
import { normalizeDomainPattern, NO_EGRESS, type EgressPolicy } from '../../net/egress-policy.js';
import type { ApiResources } from '../../resources.js';
import { ApiError, notFound, unprocessable } from '../errors.js';
import { err, noContent } from '../openapi/response-docs.js';
import { defineRoute, need, type RouteDef } from '../route.js';
import { workspaceJson } from '../serialize.js';
import { uuidParam } from './params.js';
import { anthropicKeyBody, type workspaceEgress } from './workspace-schemas.js';

// A workspace's egress policy and its own Anthropic key. The key is sealed
// here and never leaves in any form but masked: not in a response, a log
// line or an error message.

const ANTHROPIC_KEY = /^sk-ant-[A-Za-z0-9_-]{16,}$/;

/** Normalises an allowlist; a name that is not a plain host name (an IP, a URL, a port) is a 422 naming it. */
export function checkEgress(egress: z.infer<typeof workspaceEgress> | undefined, maxDomains: number): EgressPolicy | undefined {
  if (egress === undefined) return undefined;
  if (egress.mode === 'none') return NO_EGRESS;
  if (egress.domains.length > maxDomains) throw unprocessable(`egress.domains has ${egress.domains.length} entries; at most ${maxDomains} (sandbox.egress.max_domains)`);
  const domains = egress.domains.map((value, i) => {
    const normalised = normalizeDomainPattern(value);
    if (normalised === null) {
      throw unprocessable(`egress.domains[${i}]: "${value.slice(0, 80)}" is not a host name or *.domain pattern (IP addresses, ports and URLs are refused)`);
    }
    return normalised;
  });
  return { mode: 'allowlist', domains: [...new Set(domains)] };
}

/** Workspace JSON with the masked key for each row, in one query for any number of rows. */
export async function presentWorkspaces(r: ApiResources, rows: WorkspaceRow[]) {
  const ids = rows.map((row) => row.id);
  const [keys, credentials] = await Promise.all([workspaceSecretMeta(r.sql, ids, 'anthropic_api_key'), workspaceSecretMeta(r.sql, ids, 'git_credential')]);
  return rows.map((row) => workspaceJson(row, { anthropicKey: keys.get(row.id) ?? null, gitCredential: credentials.get(row.id) ?? null }));
}

export async function presentWorkspace(r: ApiResources, row: WorkspaceRow) {
  return (await presentWorkspaces(r, [row]))[0] as ReturnType<typeof workspaceJson>;
}

export function workspaceKeyRoutes(r: ApiResources, workspacesPath: string): RouteDef[] {
  const box = SecretBox.fromConfig(r.config.secrets);
  const path = `${workspacesPath}/:id/anthropic-key`;
  const access = need('workspace:update:own');

  return [
    defineRoute(
      {
        method: 'PUT',
        path,
        summary: "Store the workspace's own Anthropic API key (sealed; never shown again)",
        tag: 'workspaces',
        access,
        body: anthropicKeyBody,
        responses: [noContent('Stored'), err(422, 'Not an Anthropic API key'), err(503, 'No secrets.master_key configured')],
      },
      async (c, input) => {
        const id = uuidParam(c, 'workspace');
        const body = await input.body();
        if (!(await findWorkspace(r.sql, c.get('principal').userId, id))) throw notFound('workspace');
        const apiKey = body.api_key.trim();
        if (!ANTHROPIC_KEY.test(apiKey)) throw unprocessable('api_key is not an Anthropic API key (it starts with sk-ant- and has no spaces)');
        if (box === null) {
          throw new ApiError(
            503,
            'Service unavailable',
            'workspace API keys need a master key: set secrets.master_key (AICLI__SECRETS__MASTER_KEY, from `openssl rand -base64 32`) on the API and the workers',
          );
        }
        const sealed = box.seal(apiKey, workspaceSecretAad(id, 'anthropic_api_key'));
        await upsertWorkspaceSecret(r.sql, { workspaceId: id, kind: 'anthropic_api_key', sealed, masked: maskSecret(apiKey) });
        r.logger.info({ action: 'workspace_key_set', workspace_id: id, key_id: sealed.keyId }, 'workspace Anthropic key stored');
        return c.body(null, 204);
      },
    ),
    defineRoute(
      {
        method: 'DELETE',
        path,
        summary: "Remove the workspace's Anthropic key (tasks use the worker's key again)",
        tag: 'workspaces',
        access,
        responses: [noContent('Removed')],
      },
      async (c) => {
        const id = uuidParam(c, 'workspace');
        if (!(await findWorkspace(r.sql, c.get('principal').userId, id))) throw notFound('workspace');
        const deleted = await deleteWorkspaceSecret(r.sql, id, 'anthropic_api_key');
        if (deleted) r.logger.info({ action: 'workspace_key_deleted', workspace_id: id }, 'workspace Anthropic key removed');
        return c.body(null, 204);
      },
    ),
  ];
}
